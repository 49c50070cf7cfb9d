//! What every replica accepts once, recorded in the database (`used_once`):
//! DPoP proofs on PostgreSQL, federated tokens' `jti` on both backends.
//! Each caller names its uses by a hash with a prefix of its own.
//!
//! Uses taken while a write is under way wait for the next one and go
//! together, in one statement: a busy replica makes one round trip and one
//! commit for many, not one each, and an idle one still writes each at
//! once (a group commit, with no timer).

use std::sync::{Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use crate::db::{self, Pool, models};
use crate::error::ApiError;

/// Uses written by one statement at most.
const BATCH: usize = 512;

/// Uses waiting for a statement at most; a request past that waits for
/// room, so a stalled database holds requests, not memory.
const QUEUE: usize = 8 * BATCH;

/// One use to record, and who waits to hear whether it was the first.
struct Entry {
    id: String,
    until: i64,
    first: oneshot::Sender<Result<bool, ApiError>>,
}

/// The writer's queue. The writer is a task started by the first use (on
/// the runtime of the request that took it), and again should that
/// runtime have stopped.
pub struct Ledger {
    pool: Pool,
    queue: Mutex<Option<mpsc::Sender<Entry>>>,
}

impl Ledger {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            queue: Mutex::default(),
        }
    }

    /// Records `id` as used until `until` (unix seconds): `true` the first
    /// time any replica records it.
    pub async fn first_use(&self, id: String, until: i64) -> Result<bool, ApiError> {
        let (first, answer) = oneshot::channel();
        let entry = Entry { id, until, first };
        self.queue().send(entry).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Forgets the uses past their `until`: they can no longer be replayed.
    /// Blocking; for a background task.
    pub fn forget_expired(&self, now: i64) -> Result<usize, ApiError> {
        db::with_connection(&self.pool, |conn| {
            Ok(models::used_once::forget_expired(conn, now)?)
        })
    }

    fn queue(&self) -> mpsc::Sender<Entry> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        match &*queue {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(write(self.pool.clone(), receiver));
                *queue = Some(sender.clone());
                sender
            }
        }
    }
}

fn writer_gone() -> ApiError {
    ApiError::internal("the writer of used tokens stopped")
}

/// The writer: whatever is queued, up to [`BATCH`], in one statement, for
/// as long as the ledger lives.
async fn write(pool: Pool, mut queue: mpsc::Receiver<Entry>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let uses: Vec<(String, i64)> = batch.iter().map(|e| (e.id.clone(), e.until)).collect();
        let recorded = db::run_unfenced(&pool, move |conn| {
            Ok(models::used_once::first_uses(conn, &uses)?)
        })
        .await;
        match recorded {
            Ok(firsts) => {
                for (entry, first) in batch.drain(..).zip(firsts) {
                    // A request that gave up (its client left) hears nothing.
                    let _ = entry.first.send(Ok(first));
                }
            }
            Err(error) => {
                if !matches!(error, ApiError::Unavailable) {
                    log::error!("recording used tokens: {}", error.detail());
                }
                for entry in batch.drain(..) {
                    let _ = entry.first.send(Err(match error {
                        ApiError::Unavailable => ApiError::Unavailable,
                        _ => ApiError::internal("recording a used token failed"),
                    }));
                }
            }
        }
    }
}
