//! Claim-type confusion (jsonwebtoken's CVE-2026-25537 and its kin): JWTs
//! signed with keymint's own key from `keys/`, whose claims have the wrong
//! JSON type or are missing, are refused on the API and inactive at
//! introspection; the same claims with the right types are accepted.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Form, exchange, is_active};
use crate::helpers::{Backend, TestApp, spawn_app, unverified_claims};
use keymint::signing::{SigningAlg, SigningKey};

/// The signing key as stored in the keys folder (not the server's copy).
fn key_from_the_folder(app: &TestApp) -> SigningKey {
    let pem_path = std::fs::read_dir(app.keys_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "pem"))
        .expect("a key in the folder");
    let document = pem::parse(std::fs::read(pem_path).unwrap()).unwrap();
    SigningKey::from_pkcs8(SigningAlg::ES256, document.contents()).unwrap()
}

/// A change to genuine claims.
type Mutation = Box<dyn Fn(&mut Value)>;

async fn claims_of_the_wrong_type_are_refused_though_the_signature_holds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = key_from_the_folder(&app);
    let (status, body) = exchange(&app, Form::Json, &app.bootstrap.secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    let genuine = unverified_claims(body["access_token"].as_str().unwrap());
    let exp = genuine["exp"].as_i64().unwrap();
    let nbf = genuine["nbf"].as_i64().unwrap();

    // The control: the genuine claims, re-signed with the folder's key.
    let control = key.sign_jwt("at+jwt", &genuine).unwrap();
    let (status, _) = app.call(Method::GET, "/api/v1/me", &control, None).await;
    assert_eq!(status, 200);
    assert_eq!(is_active(&app, &control).await, true);

    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "exp as a string",
            Box::new(move |c| c["exp"] = json!(exp.to_string())),
        ),
        (
            "nbf as a string",
            Box::new(move |c| c["nbf"] = json!(nbf.to_string())),
        ),
        ("iat as a string", Box::new(|c| c["iat"] = json!("0"))),
        (
            "exp as a float",
            Box::new(move |c| c["exp"] = json!(exp as f64 + 0.5)),
        ),
        (
            "aud as an object",
            Box::new(|c| c["aud"] = json!({ "aud": c["iss"].clone() })),
        ),
        (
            "aud as a list",
            Box::new(|c| c["aud"] = json!([c["iss"].clone()])),
        ),
        (
            "no exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no nbf",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("nbf"))),
        ),
        (
            "client_id as a number",
            Box::new(|c| c["client_id"] = json!(7)),
        ),
        (
            "scope as a list",
            Box::new(|c| c["scope"] = json!(["keys:read"])),
        ),
        ("kind unknown", Box::new(|c| c["kind"] = json!("root"))),
    ];
    for (what, mutate) in mutations {
        let mut claims = genuine.clone();
        mutate(&mut claims);
        let token = key.sign_jwt("at+jwt", &claims).unwrap();
        let (status, body) = app.call(Method::GET, "/api/v1/me", &token, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}"
        );
        assert_eq!(is_active(&app, &token).await, false, "{what}");
    }
}

/// Algorithm confusion: `none` and HS256 (with the public key as the HMAC
/// secret) are refused in the header, whatever the claims.
async fn tokens_of_another_algorithm_are_refused(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, body) = exchange(&app, Form::Json, &app.bootstrap.secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    let genuine = body["access_token"].as_str().unwrap().to_owned();
    let kid = crate::helpers::token_kid(&genuine);
    let payload = genuine.split('.').nth(1).unwrap().to_owned();
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let public = jwks.text().await.unwrap();
    for header in [
        json!({ "alg": "none", "typ": "at+jwt", "kid": kid }),
        json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid }),
        json!({ "alg": "ES384", "typ": "at+jwt", "kid": kid }),
    ] {
        let signing_input = format!("{}.{payload}", B64.encode(header.to_string()));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
        let signature = B64.encode(ring::hmac::sign(&key, signing_input.as_bytes()));
        for token in [
            format!("{signing_input}."),
            format!("{signing_input}.{signature}"),
        ] {
            let (status, _) = app.call(Method::GET, "/api/v1/me", &token, None).await;
            assert_eq!(status, 401, "{header}");
        }
    }
    // The control: the genuine token.
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", &genuine, None).await.0,
        200
    );
}

crate::on_both_backends!(
    claims_of_the_wrong_type_are_refused_though_the_signature_holds,
    tokens_of_another_algorithm_are_refused,
);
