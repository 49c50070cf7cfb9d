-- keymint's model. Ids are UUID strings; times are UTC timestamps; secrets
-- and invite tokens are stored only as SHA-256 digests.
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    plan TEXT NOT NULL CHECK (plan IN ('hobby', 'starter', 'pro', 'enterprise')),
    -- JSON array of origins allowed to embed the portal.
    portal_origins TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    -- Stored lower-cased: emails are unique case-insensitively.
    email TEXT NOT NULL UNIQUE,
    -- Self-describing PBKDF2 record (algorithm, iterations, salt, hash); NULL: no password.
    password_hash TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    joined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_digest BLOB NOT NULL UNIQUE,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('personal', 'workspace', 'partner', 'management', 'customer')),
    name TEXT NOT NULL,
    start TEXT NOT NULL,
    secret_digest BLOB NOT NULL UNIQUE,
    -- After a rotation with a grace period, the old secret's digest and when it dies.
    previous_secret_digest BLOB UNIQUE,
    previous_secret_expires_at TIMESTAMP,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    environment TEXT,
    partner TEXT,
    external_id TEXT,
    -- Space-separated.
    scopes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    -- 'user:<id>' or 'key:<id>'.
    created_by TEXT,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    usage_count BIGINT NOT NULL DEFAULT 0,
    revoked_at TIMESTAMP,
    rate_limit INTEGER,
    -- Space-separated CIDRs; NULL: from anywhere.
    allowed_cidrs TEXT,
    remaining BIGINT
);
CREATE INDEX api_keys_listing ON api_keys (workspace_id, created_at DESC, id DESC);
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE INDEX api_keys_customer ON api_keys (workspace_id, external_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    -- 'user:<id>', 'key:<id>', 'portal:<external_id>' or NULL (anonymous).
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT,
    client_ip TEXT,
    user_agent TEXT,
    -- JSON object with action-specific facts; never a secret.
    detail TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_listing ON audit_events (workspace_id, created_at DESC, id DESC);
