ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN usage_count BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET
    usage_count = (SELECT usage_count FROM api_key_usage WHERE key_id = api_keys.id),
    last_used_at = (SELECT last_used_at FROM api_key_usage WHERE key_id = api_keys.id)
WHERE id IN (SELECT key_id FROM api_key_usage);
DROP TRIGGER api_keys_usage_row;
DROP TABLE api_key_usage;
