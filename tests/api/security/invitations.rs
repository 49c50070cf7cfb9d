//! Invitations take over no account: issued only with the account the same
//! request creates, single use, voiding the person's others, never over a
//! password already set.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, OWNER_EMAIL, TestApp, spawn_app, status_and_json};

async fn add_member(app: &TestApp, credential: &str, ws: &str, email: &str) -> Value {
    let (status, added) = app
        .call(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/members"),
            credential,
            Some(json!({ "email": email, "role": "viewer" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    added
}

async fn accept(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/auth/accept-invite"))
        .json(&json!({ "token": token, "password": password }))
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

/// A stranger with a workspace of their own adds existing accounts to it:
/// the password-less bootstrap owner, a person invited elsewhere who has
/// not accepted yet, and a person with a password. None gives an invitation.
async fn adding_an_existing_account_gives_no_invitation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let pending = add_member(
        &app,
        &app.bootstrap.secret,
        &app.bootstrap.workspace_id,
        "pending@example.test",
    )
    .await;
    let pending_token = pending["invitation"]["token"]
        .as_str()
        .expect("a new account is invited")
        .to_owned();
    let (_, _) = app
        .person("settled@example.test", "viewer", "settled password")
        .await;

    app.set_password("settled@example.test", "settled password")
        .await;
    let stranger = app
        .login_token("settled@example.test", "settled password")
        .await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/workspaces",
            &stranger,
            Some(json!({ "slug": "trap" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for victim in [OWNER_EMAIL, "pending@example.test"] {
        let added = add_member(&app, &stranger, "trap", victim).await;
        assert!(added["invitation"].is_null(), "{victim}: {added}");
    }
    // The bootstrap owner still has no password set by anyone.
    assert_eq!(
        app.login(OWNER_EMAIL, "anything at all").await.status(),
        401
    );
    // The control: the pending person's own invitation still works.
    let (status, body) = accept(&app, &pending_token, "pending password").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        status_and_json(app.login("pending@example.test", "pending password").await).await;
    assert_eq!(status, 200);
}

/// An invitation works once; redeeming one voids the person's others; and
/// none sets a password over one already set.
async fn an_invitation_works_once_and_voids_the_others(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let added = add_member(
        &app,
        &app.bootstrap.secret,
        &app.bootstrap.workspace_id,
        "new@example.test",
    )
    .await;
    let first = added["invitation"]["token"].as_str().unwrap().to_owned();
    let user_id = added["user_id"].as_str().unwrap().to_owned();
    // A second invitation of the same person, as an older release could
    // have issued: stored directly.
    let second = format!("kminv_{}", uuid::Uuid::new_v4().simple());
    let digest = keymint::secrets::digest_of(&second).as_bytes().to_vec();
    let workspace_id = app.bootstrap.workspace_id.clone();
    app.with_db(move |conn| {
        let now = keymint::clock::now();
        keymint::db::models::invitations::insert(
            conn,
            &keymint::db::models::invitations::Invitation {
                id: uuid::Uuid::new_v4().to_string(),
                workspace_id,
                user_id,
                role: "viewer".to_owned(),
                token_digest: digest,
                created_by: None,
                created_at: now,
                expires_at: now + chrono::Duration::days(1),
                used_at: None,
            },
        )?;
        Ok(())
    })
    .await;

    let (status, body) = accept(&app, &first, "the first password").await;
    assert_eq!(status, 200, "{body}");
    // The other invitation is void now, not merely blocked by the password.
    let second_digest = keymint::secrets::digest_of(&second).as_bytes().to_vec();
    let usable = app
        .with_db(move |conn| {
            Ok(keymint::db::models::invitations::find_usable(
                conn,
                &second_digest,
                keymint::clock::now(),
            )?)
        })
        .await;
    assert!(usable.is_none(), "the second invitation was voided");
    for replay in [&first, &second] {
        let (status, body) = accept(&app, replay, "an attacker's password").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
    }
    assert_eq!(
        app.login("new@example.test", "an attacker's password")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login("new@example.test", "the first password")
            .await
            .status(),
        200
    );
}

crate::on_both_backends!(
    adding_an_existing_account_gives_no_invitation,
    an_invitation_works_once_and_voids_the_others,
);
