-- Usage counts move out of api_keys into a narrow table of their own. The
-- usage flush writes one row per key used in the last few seconds: with a
-- million keys in use that is tens of thousands of rows per flush, and a
-- narrow row clustered by key id (WITHOUT ROWID, updated in key order)
-- dirties a fraction of the pages a wide api_keys row did.
CREATE TABLE api_key_usage (
    key_id TEXT PRIMARY KEY NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    usage_count BIGINT NOT NULL DEFAULT 0,
    last_used_at TIMESTAMP
) WITHOUT ROWID;
INSERT INTO api_key_usage (key_id, usage_count, last_used_at)
    SELECT id, usage_count, last_used_at FROM api_keys;
-- Every key has its row from the start, whoever inserts it, so the flush
-- is a plain UPDATE (a key deleted meanwhile is simply skipped).
CREATE TRIGGER api_keys_usage_row AFTER INSERT ON api_keys BEGIN
    INSERT INTO api_key_usage (key_id) VALUES (NEW.id);
END;
ALTER TABLE api_keys DROP COLUMN usage_count;
ALTER TABLE api_keys DROP COLUMN last_used_at;
