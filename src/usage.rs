//! Usage counters without a database write per request: uses are counted in
//! memory and flushed as additive updates (so replicas' counts sum) every few
//! seconds and at shutdown.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::NaiveDateTime;
use diesel::Connection as _;

use crate::db::models::api_keys::{self, UsageDelta};
use crate::db::{self, Pool};

#[derive(Debug, Clone, Copy)]
struct Pending {
    uses: i64,
    last_used_at: NaiveDateTime,
}

#[derive(Debug, Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<String, Pending>>,
}

impl UsageBuffer {
    /// Counts one use of a key at `at`.
    pub fn record(&self, key_id: &str, at: NaiveDateTime) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get_mut(key_id) {
            Some(entry) => {
                entry.uses += 1;
                entry.last_used_at = entry.last_used_at.max(at);
            }
            None => {
                pending.insert(
                    key_id.to_owned(),
                    Pending {
                        uses: 1,
                        last_used_at: at,
                    },
                );
            }
        }
    }

    /// Writes every pending count. Blocking: call it off the async workers.
    /// Counts that could not be written go back into the buffer for the next
    /// flush, so a database outage delays them instead of losing them.
    pub fn flush(&self, pool: &Pool) -> Result<usize, crate::error::ApiError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if taken.is_empty() {
            return Ok(0);
        }
        // In key order: see `add_usage`.
        let mut deltas: Vec<UsageDelta<'_>> = taken
            .iter()
            .map(|(key_id, entry)| UsageDelta {
                key_id,
                uses: entry.uses,
                last_used_at: entry.last_used_at,
            })
            .collect();
        deltas.sort_unstable_by_key(|delta| delta.key_id);
        // Through `with_connection`, so a connection lost mid-flush is
        // dropped, not handed to the next request.
        let result = db::with_connection(pool, |conn| {
            Ok(conn.transaction(|conn| api_keys::add_usage(conn, &deltas))?)
        });
        match result {
            Ok(()) => Ok(taken.len()),
            Err(error) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for (id, entry) in taken {
                    let merged = pending.entry(id).or_insert(Pending { uses: 0, ..entry });
                    merged.uses += entry.uses;
                    merged.last_used_at = merged.last_used_at.max(entry.last_used_at);
                }
                Err(error)
            }
        }
    }

    /// Uses of one key counted here and not yet flushed, and the latest.
    pub fn pending_for(&self, key_id: &str) -> Option<(i64, NaiveDateTime)> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .get(key_id)
            .map(|entry| (entry.uses, entry.last_used_at))
    }

    pub fn pending_keys(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
