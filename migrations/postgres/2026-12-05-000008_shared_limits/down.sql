DROP TABLE failure_windows;
DROP TABLE rate_buckets;
