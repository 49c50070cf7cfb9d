-- One counter per table that authenticating a key reads. Triggers bump it in
-- the transaction that changes such a row, whoever writes (a replica, the
-- CLI, an operator's SQL): each replica polls the sum to know when its cache
-- of keys may be stale. Usage columns (usage_count, last_used_at, and
-- remaining while it stays set) are left out: they change on every exchange.
--
-- One row per table, bumped once per statement after the statement has
-- locked its rows: a transaction takes a table's counter only after that
-- table's rows, so two writers cannot wait on each other in a cycle.
CREATE TABLE auth_versions (
    source TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO auth_versions (source) VALUES ('api_keys'), ('workspaces'), ('memberships'), ('users');

CREATE FUNCTION keymint_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = TG_TABLE_NAME;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, name, start, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    created_at, created_by, expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at
ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
-- A key that gains or loses a use budget changes how it is authenticated.
CREATE TRIGGER api_keys_auth_budget AFTER UPDATE OF remaining ON api_keys
FOR EACH ROW WHEN ((OLD.remaining IS NULL) <> (NEW.remaining IS NULL))
EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER api_keys_auth_delete AFTER DELETE ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER workspaces_auth_update AFTER UPDATE OF id, plan ON workspaces
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER workspaces_auth_delete AFTER DELETE ON workspaces
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
-- A member added back revives the personal keys they kept.
CREATE TRIGGER memberships_auth_insert AFTER INSERT ON memberships
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER memberships_auth_update AFTER UPDATE ON memberships
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER memberships_auth_delete AFTER DELETE ON memberships
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER users_auth_update AFTER UPDATE OF id, email ON users
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
CREATE TRIGGER users_auth_delete AFTER DELETE ON users
FOR EACH STATEMENT EXECUTE FUNCTION keymint_auth_changed();
