-- DPoP (RFC 9449): a key may require proof-of-possession at its exchanges.
ALTER TABLE api_keys ADD COLUMN dpop_required BOOLEAN NOT NULL DEFAULT FALSE;
-- It is read to authenticate the key: changing it makes caches stale.
DROP TRIGGER api_keys_auth_update ON api_keys;
CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at, dpop_required
ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();

-- Proofs already used, shared by every replica: a proof is accepted once.
-- `id` is a hash of the proof's key and jti; rows past `expires_at` (unix
-- seconds) can no longer be replayed anyway and are swept.
CREATE TABLE dpop_proofs (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);

-- Secrets every replica must share (the DPoP nonce key), made once by
-- whichever replica starts first.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
