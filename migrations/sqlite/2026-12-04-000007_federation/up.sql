-- Workload identity federation: a workspace trusts tokens of an external
-- issuer that match a policy, and exchanges them for its own.
CREATE TABLE trust_policies (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    -- NULL: the jwks_uri of the issuer's OpenID discovery document.
    jwks_uri TEXT,
    -- JSON array of strings: the external token's aud must hold one.
    audiences TEXT NOT NULL,
    -- Exact or a glob with '*'.
    subject TEXT,
    -- JSON object, claim name to pattern.
    claims TEXT NOT NULL DEFAULT '{}',
    -- Space-separated, as for keys.
    scopes TEXT NOT NULL DEFAULT '',
    environment TEXT,
    max_ttl_seconds INTEGER,
    rate_limit INTEGER,
    created_at TIMESTAMP NOT NULL,
    -- 'user:<id>' or 'key:<id>'.
    created_by TEXT
);
CREATE INDEX trust_policies_listing ON trust_policies (workspace_id, created_at DESC, id DESC);

-- What replicas accept once is no longer only DPoP proofs: federated
-- tokens' jti too. Ids are hashes, each use with its own prefix.
ALTER TABLE dpop_proofs RENAME TO used_once;
DROP INDEX dpop_proofs_expires_at;
CREATE INDEX used_once_expires_at ON used_once (expires_at);
