//! `KEYMINT_REQUIRE_HTTPS`: plain HTTP is refused unless a trusted proxy
//! vouches for HTTPS; the probes stay reachable.

use crate::helpers::{Backend, assert_error, spawn_app_with};

async fn plain_http_is_refused_unless_a_trusted_proxy_says_https(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |config| config.require_https = true).await else {
        return;
    };
    assert_error(
        app.exchange_bearer(&app.bootstrap.secret).await,
        403,
        "https_required",
    )
    .await;
    let spoofed = app
        .client
        .post(app.url("/auth/token"))
        .bearer_auth(&app.bootstrap.secret)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_error(spoofed, 403, "https_required").await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let Some(proxied) = spawn_app_with(backend, |config| {
        config.require_https = true;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let vouched = proxied
        .client
        .post(proxied.url("/auth/token"))
        .bearer_auth(&proxied.bootstrap.secret)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(vouched.status(), 200);
}

crate::on_both_backends!(plain_http_is_refused_unless_a_trusted_proxy_says_https);
