//! Widening: a narrowed credential never gains rights, through what it
//! creates or through its exchanged token, and a credential without any of
//! keymint's scopes acts on the API as nobody.

use reqwest::Method;
use serde_json::json;

use super::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Credential, EVERY_FORM, access_token, exchange, introspect,
    personal_token,
};
use crate::helpers::{Backend, TestApp, spawn_app, unverified_claims};

/// The scopes `/api/v1/me` reports for `credential` in its one workspace.
async fn scopes_of(app: &TestApp, credential: &str) -> Vec<String> {
    let (status, me) = app.call(Method::GET, "/api/v1/me", credential, None).await;
    assert_eq!(status, 200, "{me}");
    let mut scopes: Vec<String> = me["workspaces"][0]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    scopes.sort();
    scopes
}

fn sorted(text: &str) -> Vec<String> {
    let mut scopes: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    scopes.sort();
    scopes
}

async fn what_a_narrowed_personal_token_creates_is_as_narrow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, login) = app.person(ADMIN_EMAIL, "admin", ADMIN_PASSWORD).await;
    let admin_role = scopes_of(&app, &login).await;
    assert!(admin_role.contains(&"keys:write".to_owned()));

    let narrow = personal_token(
        &app,
        &login,
        json!({ "name": "n", "scopes": ["tokens:self"] }),
    )
    .await;
    let narrow_jwt = access_token(
        &app,
        &Credential {
            kind: "personal",
            secret: narrow.clone(),
            email: Some(ADMIN_EMAIL.to_owned()),
        },
        &[],
    )
    .await;
    // Whether the narrowed one presents its secret or its token, an
    // unscoped child holds what the parent holds, not the whole role.
    for parent in [&narrow, &narrow_jwt] {
        let child = personal_token(&app, parent, json!({ "name": "child" })).await;
        assert_eq!(scopes_of(&app, &child).await, vec!["tokens:self"]);
        let (status, _) = app
            .call(Method::GET, &app.ws_path("/keys"), &child, None)
            .await;
        assert_eq!(status, 403, "the child cannot read keys");
        // Nor can it ask for more than the parent holds.
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/users/me/api-keys",
                parent,
                Some(json!({ "name": "wider", "scopes": ["keys:write"] })),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("insufficient_permissions"))
        );
        // Nor, with `scopes: []`, the owner's whole role (what a personal
        // token stored without scopes means).
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/users/me/api-keys",
                parent,
                Some(json!({ "name": "empty", "scopes": [] })),
            )
            .await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (422, Some("scopes")),
            "{body}"
        );
    }
    // A token that may write keys cannot PATCH itself to `scopes: []`
    // either; narrowing itself still works (the control).
    let writer = personal_token(
        &app,
        &login,
        json!({ "name": "w", "scopes": ["keys:read", "keys:write"] }),
    )
    .await;
    let (_, me) = app.call(Method::GET, "/api/v1/me", &writer, None).await;
    let own = app.ws_path(&format!("/keys/{}", me["key"]["id"].as_str().unwrap()));
    let patch = |scopes: serde_json::Value| {
        app.call(
            Method::PATCH,
            &own,
            &writer,
            Some(json!({ "scopes": scopes })),
        )
    };
    let (status, body) = patch(json!([])).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("scopes")),
        "{body}"
    );
    assert_eq!(
        scopes_of(&app, &writer).await,
        vec!["keys:read", "keys:write"]
    );
    let (status, body) = patch(json!(["keys:write"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(scopes_of(&app, &writer).await, vec!["keys:write"]);
    // The control: the person themself makes a token of the whole role.
    let whole = personal_token(&app, &login, json!({ "name": "whole" })).await;
    assert_eq!(scopes_of(&app, &whole).await, admin_role);
}

/// A key's JWT carries exactly the rights the key has used directly, in
/// every exchange form.
async fn a_keys_token_carries_exactly_its_direct_rights(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, login) = app.person(ADMIN_EMAIL, "admin", ADMIN_PASSWORD).await;
    let unscoped = personal_token(&app, &login, json!({ "name": "u" })).await;
    let direct = scopes_of(&app, &unscoped).await;
    let credential = Credential {
        kind: "personal",
        secret: unscoped,
        email: Some(ADMIN_EMAIL.to_owned()),
    };
    for form in EVERY_FORM {
        let (status, body) =
            exchange(&app, form, &credential.secret, &credential.params(&[])).await;
        assert_eq!(status, 200, "{form:?}: {body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(sorted(body["scope"].as_str().unwrap()), direct, "{form:?}");
        assert_eq!(
            sorted(unverified_claims(token)["scope"].as_str().unwrap()),
            direct
        );
        assert_eq!(scopes_of(&app, token).await, direct, "{form:?}");
    }
    // A scoped key: its JWT says what it holds, and no more.
    let scoped = app
        .new_secret(
            json!({ "name": "s", "kind": "workspace", "scopes": ["keys:read", "billing:read"] }),
        )
        .await;
    let (status, body) = exchange(&app, super::Form::Json, &scoped, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sorted(body["scope"].as_str().unwrap()),
        vec!["billing:read", "keys:read"]
    );
}

async fn credentials_without_keymint_scopes_act_as_nobody(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let bare = app
        .new_secret(json!({ "name": "bare", "kind": "workspace" }))
        .await;
    let (status, body) = exchange(&app, super::Form::Json, &bare, &[]).await;
    assert_eq!(status, 200, "{body}");
    let bare_jwt = body["access_token"].as_str().unwrap().to_owned();
    let (_, login) = app.person(ADMIN_EMAIL, "admin", ADMIN_PASSWORD).await;
    let downstream_only = personal_token(
        &app,
        &login,
        json!({ "name": "d", "scopes": ["billing:read"] }),
    )
    .await;
    for credential in [&bare, &bare_jwt, &downstream_only] {
        let (status, me) = app.call(Method::GET, "/api/v1/me", credential, None).await;
        assert_eq!(status, 200, "/me answers anyone: {me}");
        let ws = app.ws_path("");
        for (method, path) in [
            (Method::GET, ws.as_str()),
            (Method::GET, &*app.ws_path("/keys")),
            (Method::GET, &*app.ws_path("/environments")),
            (Method::GET, "/api/v1/users/me/api-keys"),
        ] {
            let (status, body) = app.call(method.clone(), path, credential, None).await;
            assert_eq!(status, 403, "{method} {path}: {body}");
        }
        let (status, _) = app
            .call(
                Method::POST,
                "/api/v1/workspaces",
                credential,
                Some(json!({ "slug": "mine" })),
            )
            .await;
        assert_eq!(status, 403, "no workspace for a credential that is nobody");
    }
    // The controls: a key with a keymint scope reads the workspace, and the
    // person behind the personal token creates one.
    let reader = app
        .new_secret(json!({ "name": "r", "kind": "workspace", "scopes": ["keys:read"] }))
        .await;
    let (status, body) = app.call(Method::GET, &app.ws_path(""), &reader, None).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(app.bootstrap.workspace_id.as_str()))
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/workspaces",
            &login,
            Some(json!({ "slug": "mine" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn introspection_needs_tokens_introspect_among_the_rights(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let management = app
        .new_secret(json!({ "name": "m", "kind": "management" }))
        .await;
    let (status, body) = exchange(&app, super::Form::Json, &management, &[]).await;
    assert_eq!(status, 200, "{body}");
    let full = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = exchange(
        &app,
        super::Form::Json,
        &management,
        &[("scope", "keys:read")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let narrowed = body["access_token"].as_str().unwrap().to_owned();
    let read_only = app
        .new_secret(json!({ "name": "mr", "kind": "management", "scopes": ["keys:read"] }))
        .await;
    for refused in [&narrowed, &read_only] {
        let (status, body) = introspect(&app, refused, &full).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("insufficient_permissions"))
        );
    }
    // The controls: the management key itself, and its full token.
    for allowed in [&management, &full] {
        let (status, body) = introspect(&app, allowed, &full).await;
        assert_eq!(
            (status, body["active"].clone()),
            (200, json!(true)),
            "{body}"
        );
    }
}

/// Rotating a key hands over its secret, and giving a role grants its
/// scopes: neither works for a caller who lacks those rights.
async fn rotating_or_promoting_grants_nothing_the_caller_lacks(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key_admin = app
        .new_secret(
            json!({ "name": "ka", "kind": "workspace", "scopes": ["keys:read", "keys:write"] }),
        )
        .await;
    let broad = app
        .create_key(
            json!({ "name": "broad", "kind": "workspace", "scopes": ["audit:read", "keys:read"] }),
        )
        .await;
    let narrow = app
        .create_key(json!({ "name": "narrow", "kind": "workspace", "scopes": ["keys:read"] }))
        .await;
    let rotate = |id: &str| format!("{}/{id}/rotate", app.ws_path("/keys"));
    let (status, body) = app
        .call(
            Method::POST,
            &rotate(broad["id"].as_str().unwrap()),
            &key_admin,
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions")),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::POST,
            &rotate(narrow["id"].as_str().unwrap()),
            &key_admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "the control: a key within its rights: {body}");

    let member_admin = app
        .new_secret(json!({
            "name": "ma", "kind": "workspace",
            "scopes": ["members:read", "members:write", "keys:read"],
        }))
        .await;
    let add = |email: &str, role: &str| {
        let app = &app;
        let member_admin = member_admin.clone();
        let body = json!({ "email": email, "role": role });
        async move {
            app.call(
                Method::POST,
                &app.ws_path("/members"),
                &member_admin,
                Some(body),
            )
            .await
        }
    };
    let (status, body) = add("boss@example.test", "admin").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions")),
        "{body}"
    );
    let (status, body) = add("reader@example.test", "viewer").await;
    assert_eq!(status, 201, "the control: a role within its rights: {body}");
    let user = body["user_id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{user}")),
            &member_admin,
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions")),
        "{body}"
    );
}

crate::on_both_backends!(
    rotating_or_promoting_grants_nothing_the_caller_lacks,
    what_a_narrowed_personal_token_creates_is_as_narrow,
    a_keys_token_carries_exactly_its_direct_rights,
    credentials_without_keymint_scopes_act_as_nobody,
    introspection_needs_tokens_introspect_among_the_rights,
);
