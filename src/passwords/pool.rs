//! The threads that hash passwords, and nothing else.
//!
//! PBKDF2 at 600,000 rounds costs a core a few hundred milliseconds. On
//! the blocking threads that also run database work, a burst of logins
//! would stall every request that needs the database. Here hashing has a
//! few threads of its own and a short queue; when the queue is full the
//! answer is 429 at once, so a flood of logins cannot queue unbounded
//! work either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    jobs: SyncSender<Job>,
    /// Jobs taken so far: what attackers made the server hash.
    started: Arc<AtomicU64>,
}

impl HashPool {
    /// `threads` hashing threads (at least one) and room for `queued` jobs
    /// waiting for them. The threads end when the pool is dropped.
    pub fn new(threads: usize, queued: usize) -> Self {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queued);
        let waiting = Arc::new(Mutex::new(waiting));
        let started = Arc::new(AtomicU64::new(0));
        for index in 0..threads.max(1) {
            let (waiting, started) = (waiting.clone(), started.clone());
            std::thread::Builder::new()
                .name(format!("keymint-hash-{index}"))
                .spawn(move || work(&waiting, &started))
                .expect("a hashing thread starts");
        }
        Self { jobs, started }
    }

    /// Jobs started so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Half the cores (at least one): hashing never takes the whole machine.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new((cores / 2).max(1), 32)
    }

    /// Runs `job` on a hashing thread and waits for its answer; 429 when
    /// the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.submit(job)?.await
    }

    /// Queues `job` now (429 when the queue is full) and returns its answer
    /// to wait for.
    pub fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<impl Future<Output = Result<T, ApiError>> + 'static, ApiError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The waiting request may have gone away: nobody to tell.
            let _ = answer.send(job());
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(async move {
                answered
                    .await
                    .map_err(|_| ApiError::internal("a hashing job was dropped"))
            }),
            Err(TrySendError::Full(_)) => Err(ApiError::RateLimited {
                limit: 0,
                retry_after_secs: 1,
            }),
            Err(TrySendError::Disconnected(_)) => {
                Err(ApiError::internal("the hashing threads are gone"))
            }
        }
    }
}

fn work(waiting: &Mutex<Receiver<Job>>, started: &AtomicU64) {
    loop {
        // The lock is held only to take a job, never while hashing.
        let next = waiting.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match next {
            Ok(job) => {
                started.fetch_add(1, Ordering::Relaxed);
                job()
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_a_full_queue_answers_429() {
        let pool = HashPool::new(1, 1);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("keymint-hash-0"));

        // The only thread holds the first job; the second fills the one
        // place in the queue; the third is refused at once.
        let (started, has_started) = std::sync::mpsc::channel();
        let gate = Arc::new(Barrier::new(2));
        let held = gate.clone();
        let first = pool
            .submit(move || {
                started.send(()).unwrap();
                held.wait();
                0
            })
            .unwrap();
        has_started.recv().unwrap();
        let second = pool.submit(|| 1).unwrap();
        assert!(matches!(
            pool.submit(|| 2),
            Err(ApiError::RateLimited { .. })
        ));
        gate.wait();
        assert_eq!(first.await.unwrap(), 0);
        assert_eq!(second.await.unwrap(), 1);
    }
}
