-- Rate limits and failure throttles that replicas share (PostgreSQL; with
-- SQLite, one node, they stay in memory and these tables stay empty).
-- Names are short and bounded: rate buckets are `k:`/`u:` and a UUID or
-- `c:` and a hash; throttle keys are SHA-256 hashes of what they count.

-- One GCRA bucket: its theoretical arrival time, in unix microseconds, and
-- its window (interval x limit). A bucket whose tat is past is full.
CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL,
    window_us BIGINT NOT NULL
);
-- Replicas read the buckets that are not full, and sweep the full ones.
CREATE INDEX rate_buckets_tat ON rate_buckets (tat);

-- Failures in the current one-minute window of a throttle key.
CREATE TABLE failure_windows (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    failures INTEGER NOT NULL
);
CREATE INDEX failure_windows_window_start ON failure_windows (window_start);
