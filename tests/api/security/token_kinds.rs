//! Token-kind confusion: an access token never passes for a login token or
//! a portal session, whatever audience or claims it was asked with, and no
//! kind of keymint token is accepted where another is expected.

use reqwest::Method;
use serde_json::{Value, json};

use super::{EVERY_FORM, Form, access_token, exchange, is_active, one_of_every_kind};
use crate::helpers::{Backend, TestApp, spawn_app, unverified_claims};

/// The audiences keymint itself consumes, spelled as an attacker might.
fn keymint_audiences(issuer: &str) -> Vec<String> {
    let upper = issuer.to_uppercase();
    vec![
        format!("{issuer}/api"),
        format!("{issuer}/api/"),
        format!("{issuer}/portal"),
        format!("{issuer}/portal/"),
        format!("{upper}/PORTAL"),
        format!("{issuer}//api"),
        format!("{issuer}/api/v1"),
    ]
}

async fn the_exchange_refuses_keymint_audiences_for_every_kind_in_every_form(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for credential in one_of_every_kind(&app).await {
        for form in EVERY_FORM {
            for audience in keymint_audiences(&app.base) {
                let params = credential.params(&[("audience", &audience)]);
                let (status, body) = exchange(&app, form, &credential.secret, &params).await;
                let expected = if form.is_oauth() {
                    (400, "invalid_target")
                } else {
                    (422, "validation_error")
                };
                assert_eq!(
                    (status, body["error"].as_str().unwrap_or_default()),
                    expected,
                    "{} key, {form:?}, audience {audience}: {body}",
                    credential.kind
                );
                if !form.is_oauth() {
                    assert_eq!(body["errors"][0]["field"], "audience", "{body}");
                }
            }
            // The control: a downstream service's audience is granted, in
            // the same form, for the same key.
            let params = credential.params(&[("audience", "https://billing.example")]);
            let (status, body) = exchange(&app, form, &credential.secret, &params).await;
            assert_eq!(status, 200, "{} key, {form:?}: {body}", credential.kind);
            let claims = unverified_claims(body["access_token"].as_str().unwrap());
            assert_eq!(claims["aud"], "https://billing.example");
        }
    }
}

async fn call(app: &TestApp, method: Method, path: &str, credential: &str) -> (u16, Value) {
    app.call(method, path, credential, None).await
}

/// A customer whose `external_id` is a person's user id, and a personal
/// token narrowed to `keys:read`: their tokens still act as the keys they
/// were exchanged from, never as the person their `sub` names.
async fn no_claim_of_an_access_token_makes_it_a_person(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let owner_id = app.bootstrap.user_id.clone();
    let customer = app
        .new_secret(json!({ "name": "c", "kind": "customer", "external_id": owner_id }))
        .await;
    let (status, body) = exchange(&app, Form::Json, &customer, &[]).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(unverified_claims(&token)["sub"], owner_id.as_str());

    let (status, me) = call(&app, Method::GET, "/api/v1/me", &token).await;
    assert_eq!((status, me["type"].as_str()), (200, Some("key")), "{me}");
    assert!(me["user"].is_null(), "{me}");
    let (status, body) = call(&app, Method::GET, &app.ws_path("/members"), &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions"))
    );
    let (status, _) = call(&app, Method::GET, "/portal/api/keys", &token).await;
    assert_eq!(status, 401, "an access token is no portal session");

    // A personal token narrowed to keys:read acts with keys:read only.
    let credentials = one_of_every_kind(&app).await;
    let admin = credentials.iter().find(|c| c.kind == "personal").unwrap();
    let narrowed = access_token(&app, admin, &[("scope", "keys:read")]).await;
    let (status, body) = app
        .call(
            Method::POST,
            &app.ws_path("/members"),
            &narrowed,
            Some(json!({ "email": "new@example.test", "role": "viewer" })),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions"))
    );
    let (status, _) = call(&app, Method::GET, &app.ws_path("/keys"), &narrowed).await;
    assert_eq!(status, 200, "the right it kept works");

    // The controls: the owner's own login is the owner.
    app.set_password(crate::helpers::OWNER_EMAIL, "owner test password")
        .await;
    let login = app
        .login_token(crate::helpers::OWNER_EMAIL, "owner test password")
        .await;
    let (status, me) = call(&app, Method::GET, "/api/v1/me", &login).await;
    assert_eq!((status, me["type"].as_str()), (200, Some("user")), "{me}");
    assert_eq!(me["user"]["id"], owner_id.as_str());
}

/// Each kind of keymint token works where it belongs and nowhere else.
async fn each_kind_of_token_is_refused_where_another_is_expected(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(crate::helpers::OWNER_EMAIL, "owner test password")
        .await;
    let login = app
        .login_token(crate::helpers::OWNER_EMAIL, "owner test password")
        .await;
    let (status, minted) = app
        .call(
            Method::POST,
            &app.ws_path("/portal-sessions"),
            &app.bootstrap.secret,
            Some(json!({ "external_id": "cus_1" })),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let session = minted["token"].as_str().unwrap().to_owned();
    let (status, body) = exchange(&app, Form::Json, &app.bootstrap.secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();

    // Where each belongs: the controls.
    assert_eq!(call(&app, Method::GET, "/api/v1/me", &access).await.0, 200);
    assert_eq!(call(&app, Method::GET, "/api/v1/me", &login).await.0, 200);
    assert_eq!(
        call(&app, Method::GET, "/portal/api/keys", &session)
            .await
            .0,
        200
    );

    // Everywhere else.
    assert_eq!(call(&app, Method::GET, "/api/v1/me", &session).await.0, 401);
    let (status, _) = call(&app, Method::GET, &app.ws_path("/keys"), &session).await;
    assert_eq!(status, 401, "a session is no key");
    assert_eq!(
        call(&app, Method::GET, "/portal/api/keys", &login).await.0,
        401
    );
    assert_eq!(
        call(&app, Method::GET, "/portal/api/keys", &access).await.0,
        401
    );
    for token in [&session, &login, &access] {
        // Not a secret: nothing to exchange.
        let (status, body) = exchange(&app, Form::TokenExchange, token, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
    }
    // Introspection reports access tokens only.
    assert_eq!(is_active(&app, &access).await, true);
    assert_eq!(is_active(&app, &login).await, false);
    assert_eq!(is_active(&app, &session).await, false);
}

/// Tokens signed with keymint's own key but typed as another kind (what an
/// access token asked for `aud: <issuer>/api` used to be) are refused; the
/// same claims typed as their own kind are accepted.
async fn the_signed_typ_decides_the_kind(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    use keymint::tokens::TokenKind;
    use keymint::tokens::issue;
    let signer = app.state.signer().unwrap();
    let now = chrono::Utc::now().timestamp();
    let owner = app.bootstrap.user_id.clone();
    let login = json!({
        "iss": app.base, "sub": owner, "aud": format!("{}/api", app.base),
        "exp": now + 300, "iat": now, "nbf": now, "jti": "j", "email": "admin@localhost",
    });
    let as_access = signer.sign_jwt(TokenKind::Access.typ(), &login).unwrap();
    assert_eq!(
        call(&app, Method::GET, "/api/v1/me", &as_access).await.0,
        401
    );
    let as_login = signer.sign_jwt(TokenKind::Login.typ(), &login).unwrap();
    let (status, me) = call(&app, Method::GET, "/api/v1/me", &as_login).await;
    assert_eq!((status, me["type"].as_str()), (200, Some("user")), "{me}");

    let session = issue::portal_session(
        &signer,
        &app.base,
        &app.bootstrap.workspace_id,
        "cus_1",
        now,
        300,
        None,
    )
    .unwrap();
    assert_eq!(
        call(&app, Method::GET, "/portal/api/keys", &session)
            .await
            .0,
        200
    );
    let claims = unverified_claims(&session);
    let retyped = signer.sign_jwt(TokenKind::Access.typ(), &claims).unwrap();
    assert_eq!(
        call(&app, Method::GET, "/portal/api/keys", &retyped)
            .await
            .0,
        401
    );
    let as_login = signer.sign_jwt(TokenKind::Login.typ(), &claims).unwrap();
    assert_eq!(
        call(&app, Method::GET, "/api/v1/me", &as_login).await.0,
        401
    );
}

crate::on_both_backends!(
    the_exchange_refuses_keymint_audiences_for_every_kind_in_every_form,
    no_claim_of_an_access_token_makes_it_a_person,
    each_kind_of_token_is_refused_where_another_is_expected,
    the_signed_typ_decides_the_kind,
);
