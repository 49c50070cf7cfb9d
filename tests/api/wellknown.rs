//! The documents downstream services read, and the probes.

use crate::helpers::{Backend, spawn_app, status_and_json};

async fn jwks_is_cacheable_and_revalidates_with_its_etag(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, jwks) = status_and_json(response).await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (key["alg"].as_str(), key["use"].as_str()),
        (Some("ES256"), Some("sig"))
    );
    assert!(key["x"].is_string() && key["y"].is_string() && key["kid"].is_string());
    assert!(key.get("d").is_none(), "never the private part");

    let revalidated = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"].to_str().unwrap(), etag);
    let stale = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

async fn discovery_documents_agree_and_point_at_real_endpoints(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, oauth) = status_and_json(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, openid) = status_and_json(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(oauth, openid);
    assert_eq!(oauth["issuer"], app.base.as_str());
    let jwks = app
        .client
        .get(oauth["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let token = app
        .client
        .post(oauth["token_endpoint"].as_str().unwrap())
        .bearer_auth(&app.bootstrap.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let grants = oauth["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == "client_credentials"));
    assert_eq!(
        oauth["access_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
}

async fn health_and_readiness(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, _) =
        status_and_json(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, ready) =
        status_and_json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (
            status,
            ready["database"].as_bool(),
            ready["signing_key"].as_bool()
        ),
        (200, Some(true), Some(true))
    );
}

crate::on_both_backends!(
    jwks_is_cacheable_and_revalidates_with_its_etag,
    discovery_documents_agree_and_point_at_real_endpoints,
    health_and_readiness,
);
