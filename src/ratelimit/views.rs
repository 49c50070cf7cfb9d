//! A replica's views of its buckets: the decision on one request, what is
//! due to the store, and taking the store's buckets in (see the parent
//! module for the rules).

use std::collections::HashMap;

use super::RateStatus;
use super::gcra::Rate;
use crate::db::models::shared_limits::Consumed;

#[cfg(test)]
mod tests;

/// Buckets a map holds before its first sweep; after a sweep, the next one
/// waits until the map has doubled, so sweeping costs O(1) per request.
const MIN_SWEEP_AT: usize = 1024;

/// A replica tells the store of a bucket's admissions once they are a
/// quarter of its limit, or a second old, whichever comes first; not at
/// every sync. So the others' views miss at most a quarter bucket per
/// replica, less than the half that [`Rate::local_margin`] keeps in hand
/// for up to three replicas, while a key far from its limit costs the
/// store one write a second per replica, not one every sync.
const TELL_AT_PART_OF_LIMIT: u32 = 4;
const TELL_WITHIN_US: u64 = 1_000_000;

#[derive(Debug, Default)]
pub(super) struct Buckets {
    pub(super) views: HashMap<Box<str>, View>,
    sweep_at: usize,
}

/// A replica's view of one bucket.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    /// The store's arrival time as last seen, plus what this replica
    /// admitted since (unix µs); without a store, the bucket itself.
    tat: u64,
    /// Requests admitted here that the store has not been told of.
    unsynced: u32,
    /// The bucket's limit when this replica last used it (0: only seen).
    limit: u32,
    /// When the oldest of the `unsynced` admissions was made (unix µs).
    unsynced_since: u64,
}

/// Where a replica stands with the store when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Footing {
    /// No store: the view is the bucket.
    Alone,
    /// The store is unreachable: the view decides alone, and counts what
    /// it admits for the store to learn when it answers again.
    Cut,
    /// The view decides far from the limit, if it was synced lately.
    Shared { fresh: bool },
}

/// What the view says of one request.
pub(super) enum Decision {
    Answered(RateStatus),
    /// Near the limit: the store decides, told of this replica's
    /// `unsynced` admissions at the same time.
    AskStore {
        unsynced: u32,
    },
}

impl Decision {
    pub(super) fn answered(self) -> RateStatus {
        match self {
            Self::Answered(status) => status,
            Self::AskStore { .. } => unreachable!("a replica deciding alone asks no store"),
        }
    }
}

impl Buckets {
    /// The view's answer, or the store's to ask.
    pub(super) fn decide(
        &mut self,
        bucket: &str,
        rate: Rate,
        now: u64,
        footing: Footing,
    ) -> Decision {
        let tat = self.views.get(bucket).map_or(now, |view| view.tat);
        let (next, status) = match rate.admit(tat, now) {
            Ok(admitted) => admitted,
            Err(refused) => return Decision::Answered(refused),
        };
        let own = match footing {
            Footing::Alone | Footing::Cut => true,
            // A stale view admits nothing on its own.
            Footing::Shared { fresh } => fresh && rate.remaining(next, now) >= rate.local_margin(),
        };
        if !own {
            let view = self
                .views
                .get_mut(bucket)
                .map(|view| std::mem::take(&mut view.unsynced));
            return Decision::AskStore {
                unsynced: view.unwrap_or(0),
            };
        }
        let view = match self.views.get_mut(bucket) {
            Some(view) => view,
            None => {
                self.sweep(now);
                self.views.entry(bucket.into()).or_insert(View {
                    tat: now,
                    unsynced: 0,
                    limit: rate.limit,
                    unsynced_since: now,
                })
            }
        };
        view.tat = next;
        view.limit = rate.limit;
        if footing != Footing::Alone {
            if view.unsynced == 0 {
                view.unsynced_since = now;
            }
            view.unsynced = view.unsynced.saturating_add(1);
        }
        Decision::Answered(status)
    }

    /// Gives back the admissions taken to tell a store that did not answer.
    pub(super) fn hand_back(&mut self, bucket: &str, unsynced: u32) {
        if let Some(view) = self.views.get_mut(bucket) {
            view.unsynced = view.unsynced.saturating_add(unsynced);
        }
    }

    pub(super) fn limit_of(&self, bucket: &str) -> u32 {
        self.views.get(bucket).map_or(1, |view| view.limit)
    }

    /// Takes the store's decision: its arrival time, plus what this
    /// replica admitted on its own while it was asked.
    pub(super) fn settle(
        &mut self,
        bucket: &str,
        rate: Rate,
        admitted: bool,
        tat: u64,
        now: u64,
    ) -> RateStatus {
        let view = self.views.entry(bucket.into()).or_insert(View {
            tat,
            unsynced: 0,
            limit: rate.limit,
            unsynced_since: now,
        });
        view.limit = rate.limit;
        view.tat = tat.max(now) + u64::from(view.unsynced) * rate.interval;
        if admitted {
            rate.passed(view.tat, now)
        } else {
            rate.refused(view.tat, now)
        }
    }

    /// What this replica admitted since it last told the store, for the
    /// buckets where that is due.
    pub(super) fn take_unsynced(&mut self, now: u64) -> Vec<Consumed> {
        self.views
            .iter_mut()
            .filter(|(_, view)| {
                view.unsynced > 0
                    && (view.unsynced.saturating_mul(TELL_AT_PART_OF_LIMIT) >= view.limit
                        || now.saturating_sub(view.unsynced_since) >= TELL_WITHIN_US)
            })
            .map(|(bucket, view)| {
                let rate = Rate::per_second(view.limit);
                let unsynced = std::mem::take(&mut view.unsynced);
                Consumed {
                    bucket: bucket.to_string(),
                    add_us: i64::from(unsynced) * rate.interval as i64,
                    window_us: rate.window as i64,
                }
            })
            .collect()
    }

    /// Brings the view up to the store's buckets that are not full, plus
    /// what this replica admitted and has not told yet. A view never goes
    /// back: the store was read before this replica's latest decisions by
    /// the store (`settle`) may have landed, and an older reading would
    /// hand their slots out again. Buckets full in the store and here are
    /// dropped.
    pub(super) fn mirror(&mut self, not_full: Vec<(String, i64)>, now: u64) {
        let mut not_full: HashMap<String, u64> = not_full
            .into_iter()
            .map(|(bucket, tat)| (bucket, tat.max(0) as u64))
            .collect();
        self.views.retain(|bucket, view| {
            let own = u64::from(view.unsynced) * Rate::per_second(view.limit).interval;
            let stored = not_full.remove(&**bucket).unwrap_or(now).max(now);
            view.tat = view.tat.max(stored + own);
            view.tat > now
        });
        for (bucket, tat) in not_full {
            self.views.insert(
                bucket.into(),
                View {
                    tat,
                    unsynced: 0,
                    limit: 0,
                    unsynced_since: now,
                },
            );
        }
    }

    /// Drops full buckets once the map has grown enough since the last
    /// sweep.
    pub(super) fn sweep(&mut self, now: u64) {
        if self.views.len() < self.sweep_at.max(MIN_SWEEP_AT) {
            return;
        }
        self.views
            .retain(|_, view| view.tat > now || view.unsynced > 0);
        self.sweep_at = self.views.len() * 2;
    }
}
