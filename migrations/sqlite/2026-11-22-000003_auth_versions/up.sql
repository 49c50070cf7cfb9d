-- One counter per table that authenticating a key reads. Triggers bump it in
-- the transaction that changes such a row, whoever writes (a replica, the
-- CLI, an operator's SQL): each server polls the sum to know when its cache
-- of keys may be stale. Usage columns (usage_count, last_used_at, and
-- remaining while it stays set) are left out: they change on every exchange.
CREATE TABLE auth_versions (
    source TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO auth_versions (source) VALUES ('api_keys'), ('workspaces'), ('memberships'), ('users');

CREATE TRIGGER api_keys_auth_update AFTER UPDATE OF
    id, workspace_id, kind, name, start, secret_digest, previous_secret_digest,
    previous_secret_expires_at, user_id, environment, partner, external_id, scopes,
    created_at, created_by, expires_at, revoked_at, rate_limit, allowed_cidrs, rotated_at
ON api_keys BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'api_keys';
END;
-- A key that gains or loses a use budget changes how it is authenticated.
CREATE TRIGGER api_keys_auth_budget AFTER UPDATE OF remaining ON api_keys
WHEN (OLD.remaining IS NULL) <> (NEW.remaining IS NULL) BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'api_keys';
END;
CREATE TRIGGER api_keys_auth_delete AFTER DELETE ON api_keys BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'api_keys';
END;
CREATE TRIGGER workspaces_auth_update AFTER UPDATE OF id, plan ON workspaces BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'workspaces';
END;
CREATE TRIGGER workspaces_auth_delete AFTER DELETE ON workspaces BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'workspaces';
END;
-- A member added back revives the personal keys they kept.
CREATE TRIGGER memberships_auth_insert AFTER INSERT ON memberships BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'memberships';
END;
CREATE TRIGGER memberships_auth_update AFTER UPDATE ON memberships BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'memberships';
END;
CREATE TRIGGER memberships_auth_delete AFTER DELETE ON memberships BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'memberships';
END;
CREATE TRIGGER users_auth_update AFTER UPDATE OF id, email ON users BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'users';
END;
CREATE TRIGGER users_auth_delete AFTER DELETE ON users BEGIN
    UPDATE auth_versions SET version = version + 1 WHERE source = 'users';
END;
