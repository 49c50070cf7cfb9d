//! The bodies of the fuzz targets (`fuzz_targets/`), included by path by
//! each target and by the test that replays the corpora
//! (`tests/fuzz_corpora.rs`), so a fuzzer and a plain `cargo test` run the
//! very same code, and none of it ships in keymint. Each takes arbitrary
//! bytes through keymint's real parsing code and panics only when an
//! invariant breaks (a 5xx for bad input counts as broken).

use std::sync::OnceLock;

use actix_web::test::TestRequest;
use serde::de::DeserializeOwned;
use serde_json::Value;

use keymint::error::ApiError;
use keymint::http::json;
use keymint::http::shapes::{key_bodies, people, portal};
use keymint::secrets::Secret;
use keymint::signing::{SigningAlg, SigningKey, import};
use keymint::tokens::claims::AccessClaims;
use keymint::tokens::kind::TokenKind;
use keymint::tokens::login::LoginClaims;
use keymint::tokens::portal::PortalClaims;
use keymint::tokens::verify::{self, Expectations, KeySet, TokenClaims};

/// Bad input may be refused, never answered as the server's fault.
fn refused_as_a_client_error(error: &ApiError) {
    assert!(
        error.status().is_client_error(),
        "bad input answered {}: {error:?}",
        error.status()
    );
}

/// Splits `data` at 0xFF bytes into at most `n` parts (missing ones empty).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    parts.resize(n, &[]);
    parts
}

/// A secret's parser and checksum: what parses is what was given, and it
/// names its own kind.
pub fn secret(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(secret) = Secret::parse(text) {
        assert_eq!(secret.expose(), text);
        assert!(text.starts_with(secret.kind().prefix()));
        let again = Secret::parse(secret.expose()).expect("a parsed secret parses again");
        assert_eq!(again.digest().as_bytes(), secret.digest().as_bytes());
    }
}

/// `POST /auth/token` in every form, through the handler's own parser: the
/// first byte picks the content type; then the `Authorization` header, the
/// `X-API-Key` header and the body, separated by 0xFF.
pub fn token_request(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let content_type = match selector % 4 {
        0 => "application/json",
        1 => "application/x-www-form-urlencoded",
        2 => "",
        _ => "text/plain",
    };
    let [authorization, api_key, body] = parts(rest, 3)[..] else {
        unreachable!("parts gives three")
    };
    let mut request = TestRequest::post().uri("/auth/token");
    if !content_type.is_empty() {
        request = request.insert_header(("content-type", content_type));
    }
    for (name, value) in [("authorization", authorization), ("x-api-key", api_key)] {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(value)
            && !value.is_empty()
        {
            request = request.insert_header((name, value));
        }
    }
    if let Err(error) = keymint::http::token::parse_request(&request.to_http_request(), body) {
        refused_as_a_client_error(&error);
    }
}

/// Parses `bytes` as `T` the way the API does, then checks it with `check`.
fn body<T: DeserializeOwned>(bytes: &[u8], check: impl FnOnce(T) -> Result<(), ApiError>) {
    match json::parse::<T>(bytes).and_then(check) {
        Ok(()) => {}
        Err(error) => refused_as_a_client_error(&error),
    }
}

/// The `/api/v1` and portal JSON bodies: the first byte picks which.
pub fn api_body(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let now = keymint::clock::now();
    match selector % 11 {
        0 => body(bytes, |b: key_bodies::CreateKeyBody| {
            b.validate(now).map(drop)
        }),
        1 => body(bytes, |b: key_bodies::UpdateKeyBody| b.validate().map(drop)),
        2 => body(bytes, |b: key_bodies::RotateKeyBody| {
            b.grace_period().map(drop)
        }),
        3 => body(bytes, |b: key_bodies::CreatePersonalBody| {
            b.validate(now).map(drop)
        }),
        4 => body(bytes, |b: key_bodies::PortalKeyBody| {
            b.validate(now).map(drop)
        }),
        5 => body(bytes, |_: people::MemberBody| Ok(())),
        6 => body(bytes, |_: people::RoleBody| Ok(())),
        7 => body(bytes, |_: people::CreateWorkspaceBody| Ok(())),
        8 => body(bytes, |_: people::UpdateWorkspaceBody| Ok(())),
        9 => body(bytes, |_: people::EnvironmentBody| Ok(())),
        _ => body(bytes, |b: portal::SessionRequest| b.validate(900).map(drop)),
    }
}

const ISSUER: &str = "https://keymint.fuzz";

fn fuzz_key() -> &'static (SigningKey, KeySet) {
    static KEY: OnceLock<(SigningKey, KeySet)> = OnceLock::new();
    KEY.get_or_init(|| {
        let pkcs8 = SigningKey::generate_pkcs8(SigningAlg::ES256).expect("a new key");
        let key = SigningKey::from_pkcs8(SigningAlg::ES256, &pkcs8).expect("its key pair");
        let keys = KeySet::from_members([key.jwk()]);
        (key, keys)
    })
}

/// Verifies `token` as each kind; returns the kinds it passed as.
fn kinds_accepted(token: &str) -> Vec<TokenKind> {
    let (_, keys) = fuzz_key();
    let expected = Expectations::new(ISSUER, ISSUER);
    let now = chrono::Utc::now().timestamp();
    fn passes<C: TokenClaims>(
        token: &str,
        keys: &KeySet,
        expected: &Expectations,
        now: i64,
    ) -> Option<TokenKind> {
        verify::verify_as::<C>(token, keys, expected, now)
            .ok()
            .map(|_| C::KIND)
    }
    [
        passes::<AccessClaims>(token, keys, &expected, now),
        passes::<LoginClaims>(token, keys, &expected, now),
        passes::<PortalClaims>(token, keys, &expected, now),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// JWT verification of keymint's own tokens. The first byte picks the mode:
/// the rest as a compact token (header, claims and signature all the
/// fuzzer's), or as claims that keymint's key signs under one of the three
/// kinds. Either way a token passes as one kind at most, and a signed one
/// only as the kind it was signed as.
pub fn own_token(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            assert!(kinds_accepted(token).len() <= 1, "one token, several kinds");
        }
        return;
    }
    let Ok(claims) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let kind =
        [TokenKind::Access, TokenKind::Login, TokenKind::Portal][usize::from(selector / 2) % 3];
    let (key, _) = fuzz_key();
    let token = key.sign_jwt(kind.typ(), &claims).expect("signing");
    let accepted = kinds_accepted(&token);
    assert!(
        accepted.is_empty() || accepted == [kind],
        "signed as {kind:?}, accepted as {accepted:?}"
    );
}

/// PEM import of signing keys: what imports loads, signs, and publishes a
/// JWK that reads back as a verifying key under its kid.
pub fn pem_import(data: &[u8]) {
    let Ok(imported) = import::from_pem(data) else {
        return;
    };
    let key = SigningKey::from_pkcs8(imported.alg, &imported.pkcs8).expect("an imported key loads");
    let claims =
        serde_json::json!({ "iss": ISSUER, "aud": ISSUER, "sub": "x", "exp": i64::MAX / 2 });
    let token = key.sign_jwt("JWT", &claims).expect("an imported key signs");
    assert_eq!(token.split('.').count(), 3);
    let keys = KeySet::from_members([key.jwk()]);
    assert!(keys.contains(key.kid()), "its JWK is a usable public key");
}
