//! The OAuth forms of `/auth/token`: client_credentials (post and basic) and
//! RFC 8693 token exchange, with RFC 6749 error codes.

use base64::Engine;
use keymint::access::ScopeSet;
use keymint::api_keys::KeyKind;

use crate::helpers::{Backend, assert_error, spawn_app, status_and_json, unverified_claims};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API_KEY_TYPE: &str = "urn:keymint:params:oauth:token-type:api-key";

async fn client_credentials_by_post_and_by_basic(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (key_id, secret) = app
        .insert_key(|k| k.scopes = ScopeSet::parse_space_separated("a b"))
        .await;
    let post = app
        .exchange_form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.expose()),
            ("scope", "a"),
        ])
        .await;
    let (status, body) = status_and_json(post).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("a")), "{body}");
    assert!(body.get("issued_token_type").is_none());

    let basic = app
        .client
        .post(app.url("/auth/token"))
        .basic_auth(&key_id, Some(secret.expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(basic).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        unverified_claims(body["access_token"].as_str().unwrap())["client_id"],
        key_id.as_str()
    );
}

async fn client_credentials_errors_use_rfc6749_codes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let wrong = keymint::secrets::Secret::generate(KeyKind::Workspace).unwrap();
    let post = app
        .exchange_form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", wrong.expose()),
        ])
        .await;
    let body = assert_error(post, 401, "invalid_client").await;
    assert_eq!(body["error_description"], body["detail"]);

    let basic = app
        .client
        .post(app.url("/auth/token"))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("id:{}", wrong.expose()))
            ),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        basic.headers()["www-authenticate"],
        "Basic realm=\"keymint\""
    );
    assert_error(basic, 401, "invalid_client").await;

    let (_, secret) = app.insert_key(|_| {}).await;
    let other_id = app
        .exchange_form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.expose()),
            ("client_id", "nope"),
        ])
        .await;
    assert_error(other_id, 401, "invalid_client").await;
    let missing = app
        .exchange_form(&[("grant_type", "client_credentials")])
        .await;
    assert_error(missing, 400, "invalid_request").await;
    let unknown = app
        .exchange_form(&[("grant_type", "password"), ("username", "u")])
        .await;
    assert_error(unknown, 400, "unsupported_grant_type").await;
    let repeated = app
        .exchange_form(&[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_error(repeated, 400, "invalid_request").await;
    let scope = app
        .exchange_form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.expose()),
            ("scope", "x"),
        ])
        .await;
    assert_error(scope, 400, "invalid_scope").await;
}

async fn token_exchange_issues_a_jwt_and_reports_bad_subjects_as_invalid_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ok = app
        .exchange_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &app.bootstrap.secret),
            ("subject_token_type", API_KEY_TYPE),
            ("audience", "https://api.example.com"),
        ])
        .await;
    let (status, body) = status_and_json(ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(
        unverified_claims(body["access_token"].as_str().unwrap())["aud"],
        "https://api.example.com"
    );

    let wrong = keymint::secrets::Secret::generate(KeyKind::Workspace).unwrap();
    let bad_subject = app
        .exchange_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", wrong.expose()),
            ("subject_token_type", API_KEY_TYPE),
        ])
        .await;
    assert_error(bad_subject, 400, "invalid_request").await;
    let bad_type = app
        .exchange_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &app.bootstrap.secret),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ])
        .await;
    assert_error(bad_type, 400, "invalid_request").await;
}

crate::on_both_backends!(
    client_credentials_by_post_and_by_basic,
    client_credentials_errors_use_rfc6749_codes,
    token_exchange_issues_a_jwt_and_reports_bad_subjects_as_invalid_request,
);
