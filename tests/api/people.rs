//! Users, login, invitations, roles, environments, personal tokens, `/me`
//! and the audit log.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_error, spawn_app, status_and_json, unverified_claims};

const OWNER: &str = "admin@localhost";
const PASSWORD: &str = "correct horse battery";
const ME_KEYS: &str = "/api/v1/users/me/api-keys";

async fn login_tokens_have_their_own_audience_and_failures_look_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER, PASSWORD).await;
    let token = app.login_token("Admin@LocalHost", PASSWORD).await;
    let claims = unverified_claims(&token);
    assert_eq!(claims["aud"], format!("{}/api", app.base));
    assert_eq!(claims["sub"], app.bootstrap.user_id.as_str());

    let wrong_password =
        assert_error(app.login(OWNER, "wrong").await, 401, "invalid_credentials").await;
    let unknown_email = assert_error(
        app.login("nobody@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong_password, unknown_email, "the same answer either way");

    let (status, me) = app.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!((status, me["type"].as_str()), (200, Some("user")), "{me}");
    assert_eq!(me["workspaces"][0]["role"], "owner");
    // A login token is not an API secret, and an exchanged token is not a login.
    assert_error(app.exchange_bearer(&token).await, 401, "invalid_api_key").await;
    let (_, exchanged) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    assert_ne!(
        unverified_claims(exchanged["access_token"].as_str().unwrap())["aud"],
        claims["aud"]
    );
}

async fn repeated_login_failures_are_throttled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER, PASSWORD).await;
    // Each login costs a PBKDF2 run; all of them must fall in one minute.
    crate::helpers::within_one_throttle_window(std::time::Duration::from_secs(30)).await;
    for _ in 0..keymint::login::FAILURES_PER_EMAIL {
        assert_eq!(app.login(OWNER, "guess").await.status(), 401);
    }
    let blocked = app.login(OWNER, PASSWORD).await;
    assert!(blocked.headers().contains_key("retry-after"));
    let body = assert_error(blocked, 429, "rate_limit_exceeded").await;
    assert!(
        body["retryAfter"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{body}"
    );
}

async fn invitations_set_a_password_once_within_their_lifetime(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, added) = app
        .call(
            Method::POST,
            &app.ws_path("/members"),
            &app.bootstrap.secret,
            Some(json!({ "email": "New@Team.test", "role": "member" })),
        )
        .await;
    assert_eq!(
        (status, added["email"].as_str(), added["role"].as_str()),
        (201, Some("new@team.test"), Some("member"))
    );
    let token = added["invitation"]["token"].as_str().unwrap().to_owned();
    assert!(
        added["invitation"]["url"]
            .as_str()
            .unwrap()
            .contains(&token)
    );
    let accept = |password: &'static str| {
        app.client
            .post(app.url("/auth/accept-invite"))
            .json(&json!({ "token": token, "password": password }))
            .send()
    };
    assert_error(accept("short").await.unwrap(), 422, "validation_error").await;
    assert_eq!(accept(PASSWORD).await.unwrap().status(), 200);
    assert_error(accept(PASSWORD).await.unwrap(), 400, "invalid_request").await;
    app.login_token("new@team.test", PASSWORD).await;
    let (status, _) = app
        .call(
            Method::POST,
            &app.ws_path("/members"),
            &app.bootstrap.secret,
            Some(json!({ "email": "new@team.test", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, 409, "a member already");
}

async fn invitations_expire_after_seven_days(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, added) = app
        .call(
            Method::POST,
            &app.ws_path("/members"),
            &app.bootstrap.secret,
            Some(json!({ "email": "late@team.test", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(added["invitation"]["expires_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        (expires_at.to_utc() - chrono::Utc::now()).num_days(),
        6,
        "7 days, less the seconds just spent"
    );
    // Let the seven days pass by moving the deadline, not by waiting.
    app.with_db(|conn| {
        use diesel::prelude::*;
        use keymint::db::schema::invitations;
        diesel::update(invitations::table)
            .set(invitations::expires_at.eq(keymint::clock::now() - chrono::Duration::seconds(1)))
            .execute(conn)?;
        Ok(())
    })
    .await;
    let token = added["invitation"]["token"].as_str().unwrap();
    let late = app
        .client
        .post(app.url("/auth/accept-invite"))
        .json(&json!({ "token": token, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_error(late, 400, "invalid_request").await;
}

/// One row of the roles table each: what a viewer, member, admin and owner
/// may and may not do.
async fn roles_grant_exactly_their_rights(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, viewer) = app.person("viewer@t.test", "viewer", PASSWORD).await;
    let (_, member) = app.person("member@t.test", "member", PASSWORD).await;
    let (_, admin) = app.person("admin@t.test", "admin", PASSWORD).await;
    app.set_password(OWNER, PASSWORD).await;
    let owner = app.login_token(OWNER, PASSWORD).await;
    let key = json!({ "name": "k", "kind": "workspace" });
    let personal = json!({ "name": "mine" });
    let invite = |role: &str| json!({ "email": format!("{role}-new@t.test"), "role": role });
    let (invite_member, invite_owner) = (invite("member"), invite("owner"));
    let staging = json!({ "name": "staging" });
    let hobby = json!({ "plan": "hobby" });
    let ws = |path: &str| app.ws_path(path);

    // Who does what, and the status they get. Rows run in order, so an
    // invitation a row makes is there for the rows after it.
    let rows = [
        // viewer: sees keys and members, changes nothing.
        ("viewer", "GET", ws("/keys"), None, 200),
        ("viewer", "GET", ws("/members"), None, 200),
        ("viewer", "POST", ws("/keys"), Some(&key), 403),
        ("viewer", "POST", ME_KEYS.to_owned(), Some(&personal), 403),
        // member: own personal tokens, not the workspace's keys or audit log.
        ("member", "POST", ME_KEYS.to_owned(), Some(&personal), 201),
        ("member", "POST", ws("/keys"), Some(&key), 403),
        ("member", "GET", ws("/audit-log"), None, 403),
        // admin: keys, members, environments, audit; never owners or the plan.
        ("admin", "POST", ws("/keys"), Some(&key), 201),
        ("admin", "POST", ws("/members"), Some(&invite_member), 201),
        ("admin", "POST", ws("/environments"), Some(&staging), 201),
        ("admin", "GET", ws("/audit-log"), None, 200),
        ("admin", "POST", ws("/members"), Some(&invite_owner), 403),
        ("admin", "PATCH", ws(""), Some(&hobby), 403),
        // owner: makes owners.
        ("owner", "POST", ws("/members"), Some(&invite_owner), 201),
    ];
    for (who, method, path, body, expected) in rows {
        let credential = match who {
            "viewer" => &viewer,
            "member" => &member,
            "admin" => &admin,
            _ => &owner,
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, answer) = app
            .call(method.clone(), &path, credential, body.cloned())
            .await;
        assert_eq!(status, expected, "{who}: {method} {path}: {answer}");
    }
    let rename = json!({ "name": "Acme" });
    let (status, renamed) = app.call(Method::PATCH, &ws(""), &admin, Some(rename)).await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Acme")));

    // owner: changes the plan.
    let (status, workspace) = app.call(Method::PATCH, &ws(""), &owner, Some(hobby)).await;
    assert_eq!((status, workspace["plan"].as_str()), (200, Some("hobby")));
}

async fn only_owners_touch_owners_and_the_last_owner_stays(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER, PASSWORD).await;
    let owner = app.login_token(OWNER, PASSWORD).await;
    let me = app.bootstrap.user_id.clone();
    let (admin_id, admin) = app.person("admin@t.test", "admin", PASSWORD).await;

    // The last owner can neither leave nor be demoted.
    let demote_self = app
        .call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{me}")),
            &owner,
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(demote_self.0, 409, "{}", demote_self.1);
    assert_eq!(
        app.call(
            Method::DELETE,
            &app.ws_path(&format!("/members/{me}")),
            &owner,
            None
        )
        .await
        .0,
        409
    );
    // An admin may not touch an owner, nor make one.
    assert_eq!(
        app.call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{me}")),
            &admin,
            Some(json!({ "role": "viewer" }))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &app.ws_path(&format!("/members/{me}")),
            &admin,
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{admin_id}")),
            &admin,
            Some(json!({ "role": "owner" }))
        )
        .await
        .0,
        403
    );

    // With a second owner, the first may step down.
    let (status, promoted) = app
        .call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{admin_id}")),
            &owner,
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert_eq!((status, promoted["role"].as_str()), (200, Some("owner")));
    assert_eq!(
        app.call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{me}")),
            &owner,
            Some(json!({ "role": "admin" }))
        )
        .await
        .0,
        200
    );
    // The current role counts at once, whatever the older login token held.
    assert_eq!(
        app.call(
            Method::PATCH,
            &app.ws_path(""),
            &owner,
            Some(json!({ "plan": "starter" }))
        )
        .await
        .0,
        403
    );
    let (_, members) = app
        .call(Method::GET, &app.ws_path("/members"), &owner, None)
        .await;
    let roles: Vec<(&str, &str)> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [(OWNER, "admin"), ("admin@t.test", "owner")]);
    let bad_role = app
        .call(
            Method::PATCH,
            &app.ws_path(&format!("/members/{me}")),
            &admin,
            Some(json!({ "role": "root" })),
        )
        .await;
    assert_eq!(bad_role.0, 422);
}

async fn personal_tokens_act_with_their_owners_current_role(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (user_id, login) = app.person("dev@t.test", "admin", PASSWORD).await;
    let (status, created) = app
        .call(
            Method::POST,
            ME_KEYS,
            &login,
            Some(json!({ "name": "laptop", "expires_in_days": 30 })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kmp_"));
    assert_eq!(created["user_id"], user_id.as_str());

    // Exchange needs the owner's email; the secret also works directly.
    assert_error(
        app.exchange_json(json!({ "secret": secret })).await,
        401,
        "invalid_api_key",
    )
    .await;
    assert_eq!(
        app.exchange_json(json!({ "secret": secret, "email": "dev@t.test" }))
            .await
            .status(),
        200
    );
    let key = json!({ "name": "k", "kind": "workspace" });
    assert_eq!(
        app.call(
            Method::POST,
            &app.ws_path("/keys"),
            &secret,
            Some(key.clone())
        )
        .await
        .0,
        201
    );

    // Demoted: the token loses the rights at once.
    let path = app.ws_path(&format!("/members/{user_id}"));
    assert_eq!(
        app.call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "role": "viewer" }))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(Method::POST, &app.ws_path("/keys"), &secret, Some(key))
            .await
            .0,
        403
    );
    let (_, mine) = app.call(Method::GET, ME_KEYS, &login, None).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);

    // Another person's token is not found, and rotation gives a new secret.
    let id = created["id"].as_str().unwrap();
    let (_, other) = app.person("other@t.test", "member", PASSWORD).await;
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/users/me/api-keys/{id}"),
            &other,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "role": "member" }))
        )
        .await
        .0,
        200
    );
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/api/v1/users/me/api-keys/{id}/rotate"),
            &login,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let rotated_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_error(
        app.exchange_json(json!({ "secret": secret, "email": "dev@t.test" }))
            .await,
        401,
        "invalid_api_key",
    )
    .await;

    // Removed: the tokens stop working.
    assert_eq!(
        app.call(Method::DELETE, &path, &app.bootstrap.secret, None)
            .await
            .0,
        204
    );
    assert_error(
        app.exchange_json(json!({ "secret": rotated_secret, "email": "dev@t.test" }))
            .await,
        401,
        "invalid_api_key",
    )
    .await;
    assert_error(
        app.api(Method::GET, &app.ws_path("/keys"), &rotated_secret)
            .send()
            .await
            .unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
}

async fn environments_start_with_production_and_bind_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, listed) = app
        .call(
            Method::GET,
            &app.ws_path("/environments"),
            &app.bootstrap.secret,
            None,
        )
        .await;
    assert_eq!(listed["data"][0]["name"], "production");
    let path = app.ws_path("/environments");
    for (name, status) in [("staging", 201), ("staging", 409), ("Not Valid", 422)] {
        let answer = app
            .call(
                Method::POST,
                &path,
                &app.bootstrap.secret,
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(answer.0, status, "{name}: {}", answer.1);
    }
    let created = app
        .create_key(json!({ "name": "s", "kind": "workspace", "environment": "staging" }))
        .await;
    let (_, token) = status_and_json(
        app.exchange_bearer(created["secret"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(
        unverified_claims(token["access_token"].as_str().unwrap())["env"],
        "staging"
    );
}

async fn workspaces_are_created_by_people_who_become_owners(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER, PASSWORD).await;
    let owner = app.login_token(OWNER, PASSWORD).await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/workspaces",
            &owner,
            Some(json!({ "slug": "acme", "name": "Acme" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["plan"].as_str(), created["portal_origins"].clone()),
        (Some("pro"), json!([]))
    );
    let (status, read) = app
        .call(Method::GET, "/api/v1/workspaces/acme", &owner, None)
        .await;
    assert_eq!((status, read["id"].clone()), (200, created["id"].clone()));
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/workspaces",
            &owner,
            Some(json!({ "slug": "acme" }))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/workspaces",
            &app.bootstrap.secret,
            Some(json!({ "slug": "b" }))
        )
        .await
        .0,
        403
    );
    let origins = app
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            &owner,
            Some(json!({ "portal_origins": ["https://app.acme.test"] })),
        )
        .await;
    assert_eq!(
        origins.1["portal_origins"],
        json!(["https://app.acme.test"])
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            &owner,
            Some(json!({ "portal_origins": ["*"] }))
        )
        .await
        .0,
        422
    );
    let (_, me) = app.call(Method::GET, "/api/v1/me", &owner, None).await;
    assert_eq!(me["workspaces"].as_array().unwrap().len(), 2);
}

/// Every `/api/v1/workspaces/{ws}/...` route refuses a credential of
/// another workspace, for keys and for people alike.
async fn every_workspace_route_refuses_other_workspaces(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other = app
        .with_db(|conn| {
            let request = keymint::bootstrap::BootstrapRequest {
                workspace_slug: "other".into(),
                email: "owner@other.test".into(),
                password: Some(PASSWORD.into()),
            };
            keymint::bootstrap::bootstrap(conn, &request)
        })
        .await;
    let outsider_login = app.login_token("owner@other.test", PASSWORD).await;
    let key_id = app
        .create_key(json!({ "name": "target", "kind": "workspace" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = app.bootstrap.user_id.clone();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, app.ws_path(""), None),
        (Method::PATCH, app.ws_path(""), Some(json!({ "name": "x" }))),
        (Method::GET, app.ws_path("/members"), None),
        (
            Method::POST,
            app.ws_path("/members"),
            Some(json!({ "email": "x@y.z", "role": "viewer" })),
        ),
        (
            Method::PATCH,
            app.ws_path(&format!("/members/{member}")),
            Some(json!({ "role": "viewer" })),
        ),
        (
            Method::DELETE,
            app.ws_path(&format!("/members/{member}")),
            None,
        ),
        (Method::GET, app.ws_path("/environments"), None),
        (
            Method::POST,
            app.ws_path("/environments"),
            Some(json!({ "name": "x" })),
        ),
        (Method::GET, app.ws_path("/keys"), None),
        (
            Method::POST,
            app.ws_path("/keys"),
            Some(json!({ "name": "x", "kind": "workspace" })),
        ),
        (Method::GET, app.ws_path(&format!("/keys/{key_id}")), None),
        (
            Method::PATCH,
            app.ws_path(&format!("/keys/{key_id}")),
            Some(json!({ "name": "x" })),
        ),
        (
            Method::DELETE,
            app.ws_path(&format!("/keys/{key_id}")),
            None,
        ),
        (
            Method::POST,
            app.ws_path(&format!("/keys/{key_id}/rotate")),
            None,
        ),
        (Method::GET, app.ws_path("/audit-log"), None),
        (Method::GET, "/api/v1/workspaces/default".to_owned(), None),
    ];
    for credential in [other.api_key.secret.as_str(), outsider_login.as_str()] {
        for (method, path, body) in &routes {
            let (status, answer) = app
                .call(method.clone(), path, credential, body.clone())
                .await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (403, Some("api_key_account_mismatch")),
                "{method} {path}"
            );
        }
    }
    // Nothing was changed by those attempts.
    assert_eq!(
        app.exchange_bearer(&app.bootstrap.secret).await.status(),
        200
    );
}

async fn the_audit_log_tells_who_did_what_and_never_a_secret(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER, PASSWORD).await;
    app.login_token(OWNER, PASSWORD).await;
    assert_eq!(app.login(OWNER, "wrong").await.status(), 401);
    let response = app
        .api(Method::POST, &app.ws_path("/keys"), &app.bootstrap.secret)
        .header("user-agent", "audit-test/1.0")
        .json(&json!({ "name": "audited", "kind": "workspace", "allowed_cidrs": ["10.0.0.0/8"] }))
        .send()
        .await
        .unwrap();
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.exchange_bearer(&secret).await.status(), 403);
    app.person("member@t.test", "member", PASSWORD).await;

    let mut events = Vec::new();
    let mut path = app.ws_path("/audit-log?limit=3");
    loop {
        let (status, page) = app
            .call(Method::GET, &path, &app.bootstrap.secret, None)
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(!page.to_string().contains(&secret[4..]), "never a secret");
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = app.ws_path(&format!("/audit-log?limit=3&cursor={cursor}")),
            None => break,
        }
    }
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "login.succeeded",
        "login.failed",
        "key.created",
        "exchange.failed",
        "member.added",
        "member.invitation_accepted",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let failed = events
        .iter()
        .find(|e| e["action"] == "exchange.failed")
        .unwrap();
    assert_eq!(
        (
            failed["target"].clone(),
            failed["detail"]["reason"].as_str()
        ),
        (created["id"].clone(), Some("ip_not_allowed"))
    );
    let created_event = events
        .iter()
        .find(|e| e["action"] == "key.created")
        .unwrap();
    assert!(created_event["actor"].as_str().unwrap().starts_with("key:"));
    assert_eq!(created_event["client_ip"], "127.0.0.1");
    assert_eq!(created_event["user_agent"], "audit-test/1.0");
}

crate::on_both_backends!(
    login_tokens_have_their_own_audience_and_failures_look_alike,
    repeated_login_failures_are_throttled,
    invitations_set_a_password_once_within_their_lifetime,
    invitations_expire_after_seven_days,
    roles_grant_exactly_their_rights,
    only_owners_touch_owners_and_the_last_owner_stays,
    personal_tokens_act_with_their_owners_current_role,
    environments_start_with_production_and_bind_keys,
    workspaces_are_created_by_people_who_become_owners,
    every_workspace_route_refuses_other_workspaces,
    the_audit_log_tells_who_did_what_and_never_a_secret,
);
