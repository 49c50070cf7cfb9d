-- Usage counts move out of api_keys into a narrow table of their own. The
-- usage flush writes one row per key used in the last few seconds: with a
-- million keys in use that is tens of thousands of rows per flush. A narrow
-- row with free space left on its page (fillfactor) is updated in place
-- (a HOT update: no index entry written), where a wide api_keys row was
-- copied with a new entry in each of its indexes.
CREATE TABLE api_key_usage (
    key_id TEXT PRIMARY KEY NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    usage_count BIGINT NOT NULL DEFAULT 0,
    last_used_at TIMESTAMP
) WITH (fillfactor = 50);
INSERT INTO api_key_usage (key_id, usage_count, last_used_at)
    SELECT id, usage_count, last_used_at FROM api_keys;
-- Every key has its row from the start, whoever inserts it, so the flush
-- is a plain UPDATE (a key deleted meanwhile is simply skipped).
CREATE FUNCTION keymint_usage_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_key_usage (key_id) SELECT id FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_usage_rows AFTER INSERT ON api_keys
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION keymint_usage_rows();
ALTER TABLE api_keys DROP COLUMN usage_count, DROP COLUMN last_used_at;
