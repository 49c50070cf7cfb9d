DROP TABLE server_secrets;
DROP TABLE dpop_proofs;
DROP TRIGGER api_keys_auth_update ON api_keys;
ALTER TABLE api_keys DROP COLUMN dpop_required;
CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at
ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
