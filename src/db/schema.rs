// The tables of migrations/{sqlite,postgres}: one portable description, using
// only SQL types both backends map the same way.

diesel::table! {
    workspaces (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        plan -> Text,
        portal_origins -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    environments (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    memberships (workspace_id, user_id) {
        workspace_id -> Text,
        user_id -> Text,
        role -> Text,
        joined_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        workspace_id -> Text,
        user_id -> Text,
        role -> Text,
        token_digest -> Binary,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        workspace_id -> Text,
        kind -> Text,
        name -> Text,
        start -> Text,
        secret_digest -> Binary,
        previous_secret_digest -> Nullable<Binary>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        user_id -> Nullable<Text>,
        environment -> Nullable<Text>,
        partner -> Nullable<Text>,
        external_id -> Nullable<Text>,
        scopes -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        rate_limit -> Nullable<Integer>,
        allowed_cidrs -> Nullable<Text>,
        remaining -> Nullable<BigInt>,
        rotated_at -> Nullable<Timestamp>,
        dpop_required -> Bool,
    }
}

diesel::table! {
    used_once (id) {
        id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    trust_policies (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        issuer -> Text,
        jwks_uri -> Nullable<Text>,
        audiences -> Text,
        subject -> Nullable<Text>,
        claims -> Text,
        scopes -> Text,
        environment -> Nullable<Text>,
        max_ttl_seconds -> Nullable<Integer>,
        rate_limit -> Nullable<Integer>,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        workspace_id -> Nullable<Text>,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_key_usage (key_id) {
        key_id -> Text,
        usage_count -> BigInt,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    auth_versions (source) {
        source -> Text,
        version -> BigInt,
    }
}

diesel::joinable!(environments -> workspaces (workspace_id));
diesel::joinable!(memberships -> workspaces (workspace_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(invitations -> workspaces (workspace_id));
diesel::joinable!(api_keys -> workspaces (workspace_id));
diesel::joinable!(audit_events -> workspaces (workspace_id));
diesel::joinable!(api_key_usage -> api_keys (key_id));
diesel::joinable!(trust_policies -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    workspaces,
    environments,
    users,
    memberships,
    invitations,
    api_keys,
    api_key_usage,
    audit_events,
    trust_policies,
);
