-- When the key last got a new secret: tokens issued before it die with the old secret.
ALTER TABLE api_keys ADD COLUMN rotated_at TIMESTAMP;
