//! `POST /auth/token` in its JSON and header forms, and the rules every
//! exchange follows.

use chrono::Utc;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use keymint::access::{Role, ScopeSet};
use keymint::api_keys::KeyKind;
use keymint::db::models::api_keys as api_keys_model;
use keymint::db::schema::api_keys;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, assert_error, spawn_app, status_and_json, unverified_claims, usage_of,
};

async fn bearer_json_and_x_api_key_forms_issue_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let secret = app.bootstrap.secret.clone();
    let responses = [
        app.exchange_bearer(&secret).await,
        app.client
            .post(app.url("/auth/token"))
            .header("X-Api-Key", &secret)
            .send()
            .await
            .unwrap(),
        app.exchange_json(json!({ "secret": secret })).await,
    ];
    for response in responses {
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        let claims = unverified_claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["iss"], app.base.as_str());
        assert_eq!(claims["aud"], app.base.as_str());
        assert_eq!(claims["ws"], app.bootstrap.workspace_id.as_str());
        assert_eq!(claims["kind"], "workspace");
        assert_eq!(claims["sub"], claims["client_id"]);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            900
        );
        assert_eq!(claims["nbf"], claims["iat"]);
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        assert_eq!(body["scope"], claims["scope"]);
        assert!(
            claims["scope"].as_str().unwrap().contains("keys:write"),
            "bootstrap key holds every scope"
        );
    }
}

async fn issued_tokens_verify_with_only_the_published_jwks(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, body) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    let token = body["access_token"].as_str().unwrap();

    // Everything the verifier knows comes from the public JWKS document.
    let jwks: JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the token's kid is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&app.base]);
    validation.set_audience(&[&app.base]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let verified =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    assert_eq!(verified.claims["ws"], app.bootstrap.workspace_id.as_str());

    // The same check refuses a token whose payload was changed.
    let parts: Vec<&str> = token.split('.').collect();
    let mut changed = verified.claims.clone();
    changed["ws"] = json!("another-workspace");
    let forged_payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&changed).unwrap(),
    );
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .is_err()
    );
}

async fn unknown_revoked_and_tampered_secrets_are_invalid_api_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (key_id, secret) = app.insert_key(|_| {}).await;
    let mut tampered = secret.expose().to_owned();
    tampered.replace_range(8..9, if &tampered[8..9] == "a" { "b" } else { "a" });
    let unknown = keymint::secrets::Secret::generate(KeyKind::Workspace).unwrap();
    for presented in [
        unknown.expose(),
        tampered.as_str(),
        "kmk_short",
        "not a secret at all",
    ] {
        let response = app.exchange_bearer(presented).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_error(response, 401, "invalid_api_key").await;
    }

    assert_eq!(app.exchange_bearer(secret.expose()).await.status(), 200);
    app.with_db(move |conn| {
        diesel::update(api_keys::table.find(key_id))
            .set(api_keys::revoked_at.eq(keymint::clock::now()))
            .execute(conn)?;
        Ok(())
    })
    .await;
    assert_error(
        app.exchange_bearer(secret.expose()).await,
        401,
        "invalid_api_key",
    )
    .await;
}

async fn expired_keys_get_api_key_expired(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let past = keymint::clock::now() - chrono::Duration::seconds(1);
    let (_, expired) = app.insert_key(move |k| k.expires_at = Some(past)).await;
    assert_error(
        app.exchange_bearer(expired.expose()).await,
        401,
        "api_key_expired",
    )
    .await;
    let future = keymint::clock::now() + chrono::Duration::days(30);
    let (_, valid) = app.insert_key(move |k| k.expires_at = Some(future)).await;
    assert_eq!(app.exchange_bearer(valid.expose()).await.status(), 200);
}

async fn personal_keys_need_their_owners_email(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let owner = app.bootstrap.user_id.clone();
    let (_, secret) = app
        .insert_key(move |k| {
            k.kind = KeyKind::Personal;
            k.user_id = Some(owner);
            k.scopes = ScopeSet::parse_space_separated("keys:read");
        })
        .await;
    assert!(secret.expose().starts_with("kmp_"));
    for missing_or_wrong in [
        json!({ "secret": secret.expose() }),
        json!({ "secret": secret.expose(), "email": "x@y.z" }),
    ] {
        assert_error(
            app.exchange_json(missing_or_wrong).await,
            401,
            "invalid_api_key",
        )
        .await;
    }
    assert_error(
        app.exchange_bearer(secret.expose()).await,
        401,
        "invalid_api_key",
    )
    .await;

    let ok = app
        .exchange_json(json!({ "secret": secret.expose(), "email": "Admin@LocalHost" }))
        .await;
    let (status, body) = status_and_json(ok).await;
    assert_eq!(status, 200, "{body}");
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], app.bootstrap.user_id.as_str());
    assert_eq!(claims["email"], "admin@localhost");
    assert_eq!(claims["role"], Role::Owner.as_str());
    assert_eq!(claims["kind"], "personal");
}

async fn scope_audience_and_lifetime_can_be_narrowed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, secret) = app
        .insert_key(|k| k.scopes = ScopeSet::parse_space_separated("orders:read orders:write"))
        .await;
    let narrowed = app
        .exchange_json(json!({
            "secret": secret.expose(), "scope": "orders:read",
            "audience": "https://orders.example.com", "expires_in": 60,
        }))
        .await;
    let (status, body) = status_and_json(narrowed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["scope"].as_str(), body["expires_in"].as_i64()),
        (Some("orders:read"), Some(60))
    );
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://orders.example.com");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );

    let capped = app
        .exchange_json(json!({ "secret": secret.expose(), "expires_in": 999_999 }))
        .await;
    assert_eq!(
        status_and_json(capped).await.1["expires_in"],
        3600,
        "capped at KEYMINT_TOKEN_MAX_TTL"
    );
    let wider = app
        .exchange_json(json!({ "secret": secret.expose(), "scope": "orders:read admin" }))
        .await;
    assert_error(wider, 400, "invalid_scope").await;
    let negative = app
        .exchange_json(json!({ "secret": secret.expose(), "expires_in": 0 }))
        .await;
    assert_eq!(
        assert_error(negative, 422, "validation_error").await["errors"][0]["field"],
        "expires_in"
    );
}

async fn remaining_uses_are_taken_atomically(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (key_id, secret) = app.insert_key(|k| k.remaining = Some(10)).await;
    let mut exchanges = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url, secret) = (
            app.client.clone(),
            app.url("/auth/token"),
            secret.expose().to_owned(),
        );
        exchanges.spawn(async move {
            client
                .post(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses: Vec<u16> = exchanges.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        40,
        "{statuses:?}"
    );
    assert_error(
        app.exchange_bearer(secret.expose()).await,
        403,
        "usage_exceeded",
    )
    .await;
    let left: Option<i64> = app
        .with_db(move |conn| {
            Ok(api_keys::table
                .find(key_id)
                .select(api_keys::remaining)
                .first(conn)?)
        })
        .await;
    assert_eq!(left, Some(0));
}

async fn cidrs_environment_and_partner_travel_in_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, local) = app
        .insert_key(|k| {
            k.kind = KeyKind::Partner;
            k.partner = Some("zapier".into());
            k.environment = Some("production".into());
            k.allowed_cidrs = Some(vec!["127.0.0.0/8".parse().unwrap()]);
        })
        .await;
    let (status, body) = status_and_json(app.exchange_bearer(local.expose()).await).await;
    assert_eq!(status, 200, "{body}");
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cidr"], json!(["127.0.0.0/8"]));
    assert_eq!(
        (claims["env"].as_str(), claims["partner"].as_str()),
        (Some("production"), Some("zapier"))
    );
    assert_eq!(claims["kind"], "partner");

    let (_, elsewhere) = app
        .insert_key(|k| k.allowed_cidrs = Some(vec!["10.0.0.0/8".parse().unwrap()]))
        .await;
    assert_error(
        app.exchange_bearer(elsewhere.expose()).await,
        403,
        "ip_not_allowed",
    )
    .await;
}

async fn customer_keys_name_the_customer_as_subject(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, secret) = app
        .insert_key(|k| {
            k.kind = KeyKind::Customer;
            k.external_id = Some("cus_42".into());
        })
        .await;
    let (_, body) = status_and_json(app.exchange_bearer(secret.expose()).await).await;
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["sub"].as_str(), claims["kind"].as_str()),
        (Some("cus_42"), Some("customer"))
    );
    assert_eq!(body["scope"], "", "a key created without scopes holds none");
}

async fn exchanges_count_usage_in_memory_until_flushed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (key_id, secret) = app.insert_key(|_| {}).await;
    for _ in 0..3 {
        assert_eq!(app.exchange_bearer(secret.expose()).await.status(), 200);
    }
    // Before a flush the database has not been written to.
    assert_eq!(usage_of(&app, &key_id).await, (0, None));
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || state.usage.flush(&state.pool))
        .await
        .unwrap()
        .unwrap();
    let (count, last_used) = usage_of(&app, &key_id).await;
    assert_eq!(count, 3);
    let age = Utc::now().naive_utc() - last_used.expect("last_used_at set");
    assert!(age < chrono::Duration::seconds(60), "{age}");
}

/// Replicas flush their own counts: they add up, and `last_used_at` only
/// moves forward, whatever order the flushes land in.
async fn flushed_counts_add_up_and_last_use_only_moves_forward(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (key_id, _) = app.insert_key(|_| {}).await;
    let later = chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .unwrap()
        .naive_utc();
    let earlier = later - chrono::Duration::seconds(30);
    for (uses, at) in [(2, later), (3, earlier)] {
        let id = key_id.clone();
        app.with_db(move |conn| {
            let delta = api_keys_model::UsageDelta {
                key_id: &id,
                uses,
                last_used_at: at,
            };
            Ok(api_keys_model::add_usage(conn, &[delta])?)
        })
        .await;
    }
    assert_eq!(usage_of(&app, &key_id).await, (5, Some(later)));
}

/// A flush bigger than one PostgreSQL statement (5,000 keys) writes every
/// batch: the real keys sit at both ends of 5,001 deltas in key order, the
/// others name no key and are skipped.
async fn a_flush_larger_than_one_batch_writes_every_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (one, _) = app.insert_key(|_| {}).await;
    let (other, _) = app.insert_key(|_| {}).await;
    let (first, last) = if one < other {
        (one, other)
    } else {
        (other, one)
    };
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .unwrap()
        .naive_utc();
    let (low, high) = (first.clone(), last.clone());
    app.with_db(move |conn| {
        // Ids that name no key, sorting between the two real ones.
        let between: Vec<String> = (0..4_999).map(|i| format!("{low}~{i:05}")).collect();
        let mut ids: Vec<&str> = vec![&low];
        ids.extend(between.iter().map(String::as_str));
        ids.push(&high);
        assert!(ids.is_sorted() && ids.len() == 5_001);
        let deltas: Vec<_> = ids
            .into_iter()
            .map(|key_id| api_keys_model::UsageDelta {
                key_id,
                uses: 2,
                last_used_at: at,
            })
            .collect();
        Ok(api_keys_model::add_usage(conn, &deltas)?)
    })
    .await;
    assert_eq!(usage_of(&app, &first).await, (2, Some(at)));
    assert_eq!(usage_of(&app, &last).await, (2, Some(at)));
}

crate::on_both_backends!(
    bearer_json_and_x_api_key_forms_issue_tokens,
    issued_tokens_verify_with_only_the_published_jwks,
    unknown_revoked_and_tampered_secrets_are_invalid_api_key,
    expired_keys_get_api_key_expired,
    personal_keys_need_their_owners_email,
    scope_audience_and_lifetime_can_be_narrowed,
    remaining_uses_are_taken_atomically,
    cidrs_environment_and_partner_travel_in_the_token,
    customer_keys_name_the_customer_as_subject,
    exchanges_count_usage_in_memory_until_flushed,
    flushed_counts_add_up_and_last_use_only_moves_forward,
    a_flush_larger_than_one_batch_writes_every_key,
);
