ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP,
    ADD COLUMN usage_count BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET usage_count = u.usage_count, last_used_at = u.last_used_at
FROM api_key_usage AS u WHERE u.key_id = api_keys.id;
DROP TRIGGER api_keys_usage_rows ON api_keys;
DROP FUNCTION keymint_usage_rows();
DROP TABLE api_key_usage;
