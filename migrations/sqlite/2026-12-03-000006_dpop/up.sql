-- DPoP (RFC 9449): a key may require proof-of-possession at its exchanges.
ALTER TABLE api_keys ADD COLUMN dpop_required BOOLEAN NOT NULL DEFAULT 0;
-- It is read to authenticate the key: changing it makes caches stale.
DROP TRIGGER api_keys_auth_update;
CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at, dpop_required
ON api_keys BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'api_keys';
END;

-- The same tables as on PostgreSQL. One process serves a SQLite database,
-- so it remembers used proofs in memory; the table stays empty here.
CREATE TABLE dpop_proofs (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
