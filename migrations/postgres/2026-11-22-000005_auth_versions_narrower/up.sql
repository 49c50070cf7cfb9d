-- A key's name, start, created_at and created_by are never read to
-- authenticate it or to fill its tokens: changing them (a rename) no longer
-- makes every replica's key cache stale, nor waits out its lease.
DROP TRIGGER api_keys_auth_update ON api_keys;
CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at
ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
