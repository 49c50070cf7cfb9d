//! The shared limits in Redis (`KEYMINT_REDIS_URL`): each operation is one
//! Lua script, so it is atomic on the server and one round trip.
//!
//! Rate buckets are one sorted set, bucket by arrival time (unix
//! microseconds, exact in a Lua number up to 2^53): the buckets that are
//! not full are one range of it. Failure counts are a counter per key and
//! window, which expires with the window. One Redis (or a primary), not a
//! Redis Cluster: the scripts touch several keys.

use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use crate::db::models::shared_limits::Consumed;

const BUCKETS: &str = "keymint:rate_buckets";
/// Failure windows are a minute; their counters outlive them a little.
const FAILURE_TTL_SECS: u64 = 120;

/// Adds consumption (ARGV after `now`: bucket, add, window), sweeps the
/// full buckets and answers the others with their arrival times.
const SYNC: &str = r"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV, 3 do
  local window = tonumber(ARGV[i + 2])
  local stored = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) or now
  -- Never more than a window owed, never lower than it was.
  local tat = math.max(math.min(math.max(stored, now) + tonumber(ARGV[i + 1]), now + window), stored)
  redis.call('ZADD', KEYS[1], tat, ARGV[i])
end
-- ARGV[1] as given: Lua would print the number with 14 digits.
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
";

/// One request (ARGV: now, bucket, add, interval, window): `{admitted, tat}`.
const ACQUIRE: &str = r"
local now, add, interval, window = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stored = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2])) or now
local tat = math.max(math.min(math.max(stored, now) + add, now + window), stored)
local admitted = 0
if tat + interval - now <= window then
  tat = tat + interval
  admitted = 1
end
redis.call('ZADD', KEYS[1], tat, ARGV[2])
return {admitted, tat}
";

/// Adds ARGV[1] (never below zero) to each key; answers the counts.
const ADD_FAILURES: &str = r"
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCRBY', key, ARGV[1])
  if n < 0 then
    redis.call('SET', key, 0)
    n = 0
  end
  redis.call('EXPIRE', key, ARGV[2])
  counts[i] = n
end
return counts
";

/// Counts an attempt on every key (limits in ARGV after the TTL) unless
/// one is used up: then its 1-based index, else 0.
const BEGIN_ATTEMPT: &str = r"
for i, key in ipairs(KEYS) do
  if (tonumber(redis.call('GET', key)) or 0) >= tonumber(ARGV[i + 1]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
end
return 0
";

pub struct RedisStore {
    client: Client,
    /// Connected on first use, from a task of the server's runtime; it
    /// reconnects by itself after an outage.
    connection: OnceLock<ConnectionManager>,
    sync: Script,
    acquire: Script,
    add_failures: Script,
    begin_attempt: Script,
}

impl RedisStore {
    /// Checks the URL; connects later.
    pub fn new(url: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            client: Client::open(url)?,
            connection: OnceLock::new(),
            sync: Script::new(SYNC),
            acquire: Script::new(ACQUIRE),
            add_failures: Script::new(ADD_FAILURES),
            begin_attempt: Script::new(BEGIN_ATTEMPT),
        })
    }

    fn connection(&self, timeout: Duration) -> redis::RedisResult<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        Ok(self.connection.get_or_init(|| connection).clone())
    }

    pub async fn sync_buckets(
        &self,
        consumed: &[Consumed],
        now_us: i64,
        timeout: Duration,
    ) -> redis::RedisResult<Vec<(String, i64)>> {
        let mut invocation = self.sync.key(BUCKETS);
        invocation.arg(now_us);
        for c in consumed {
            invocation.arg(&c.bucket).arg(c.add_us).arg(c.window_us);
        }
        let flat: Vec<(String, f64)> = invocation
            .invoke_async(&mut self.connection(timeout)?)
            .await?;
        // Scores are integral microseconds, exact below 2^53.
        Ok(flat
            .into_iter()
            .map(|(bucket, tat)| (bucket, tat as i64))
            .collect())
    }

    pub async fn acquire_bucket(
        &self,
        consumed: &Consumed,
        interval_us: i64,
        now_us: i64,
        timeout: Duration,
    ) -> redis::RedisResult<(bool, i64)> {
        let (admitted, tat): (i64, i64) = self
            .acquire
            .key(BUCKETS)
            .arg(now_us)
            .arg(&consumed.bucket)
            .arg(consumed.add_us)
            .arg(interval_us)
            .arg(consumed.window_us)
            .invoke_async(&mut self.connection(timeout)?)
            .await?;
        Ok((admitted == 1, tat))
    }

    pub async fn add_failures(
        &self,
        keys: &[&str],
        delta: i32,
        window: i64,
        timeout: Duration,
    ) -> redis::RedisResult<Vec<u32>> {
        let mut invocation = self.add_failures.prepare_invoke();
        for key in keys {
            invocation.key(failure_key(key, window));
        }
        invocation.arg(delta).arg(FAILURE_TTL_SECS);
        invocation
            .invoke_async(&mut self.connection(timeout)?)
            .await
    }

    pub async fn read_failures(
        &self,
        keys: &[&str],
        window: i64,
        timeout: Duration,
    ) -> redis::RedisResult<Vec<u32>> {
        let names: Vec<String> = keys.iter().map(|key| failure_key(key, window)).collect();
        let counts: Vec<Option<u32>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut self.connection(timeout)?)
            .await?;
        Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
    }

    pub async fn begin_attempt(
        &self,
        limits: &[(&str, u32)],
        window: i64,
        timeout: Duration,
    ) -> redis::RedisResult<Option<usize>> {
        let mut invocation = self.begin_attempt.prepare_invoke();
        invocation.arg(FAILURE_TTL_SECS);
        for (key, limit) in limits {
            invocation.key(failure_key(key, window)).arg(*limit);
        }
        let blocked: usize = invocation
            .invoke_async(&mut self.connection(timeout)?)
            .await?;
        Ok(blocked.checked_sub(1))
    }
}

fn failure_key(key: &str, window: i64) -> String {
    format!("keymint:failures:{window}:{key}")
}
