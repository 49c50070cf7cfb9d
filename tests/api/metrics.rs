//! `GET /metrics`: Prometheus text with requests by route pattern and
//! status, the `/auth/token` latency histogram, exchanges by outcome, the
//! rate-limited count, signing keys by state and the database pool.

use keymint::exchange::FAILURES_PER_IP;

use crate::helpers::{Backend, TestApp, spawn_app};

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    response.text().await.unwrap()
}

use crate::helpers::metric_sample as sample;

async fn metrics_count_requests_by_route_and_exchanges_by_outcome(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.token().await;
    let created = app
        .create_key(serde_json::json!({"name": "m", "kind": "workspace"}))
        .await;
    let key_id = created["id"].as_str().unwrap();
    let read = app
        .api(
            reqwest::Method::GET,
            &app.ws_path(&format!("/keys/{key_id}")),
            &app.bootstrap.secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // A wrong secret until the IP is throttled, then once more (429).
    crate::helpers::within_one_throttle_window(std::time::Duration::from_secs(20)).await;
    let mut wrong = app.bootstrap.secret.clone();
    wrong.replace_range(10..11, if &wrong[10..11] == "a" { "b" } else { "a" });
    for _ in 0..FAILURES_PER_IP {
        assert_eq!(app.exchange_bearer(&wrong).await.status(), 401);
    }
    assert_eq!(app.exchange_bearer(&wrong).await.status(), 429);

    let text = scrape(&app).await;
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    };
    expect(
        r#"keymint_http_requests_total{method="POST",route="/auth/token",status="200"}"#,
        1.0,
    );
    expect(
        r#"keymint_http_requests_total{method="POST",route="/auth/token",status="401"}"#,
        f64::from(FAILURES_PER_IP),
    );
    expect(
        r#"keymint_http_requests_total{method="GET",route="/api/v1/workspaces/{ws}/keys/{id}",status="200"}"#,
        1.0,
    );
    assert!(!text.contains(key_id), "raw paths never become labels");
    expect(r#"keymint_rate_limited_total{route="/auth/token"}"#, 1.0);
    expect(r#"keymint_token_exchanges_total{outcome="issued"}"#, 1.0);
    expect(
        r#"keymint_token_exchanges_total{outcome="invalid"}"#,
        f64::from(FAILURES_PER_IP),
    );
    expect(
        r#"keymint_token_exchanges_total{outcome="rate_limited"}"#,
        1.0,
    );
    let exchanges = f64::from(FAILURES_PER_IP + 2);
    expect("keymint_token_request_duration_seconds_count", exchanges);
    expect(
        r#"keymint_token_request_duration_seconds_bucket{le="+Inf"}"#,
        exchanges,
    );
    expect(r#"keymint_signing_keys{state="active"}"#, 1.0);
    expect(r#"keymint_signing_keys{state="next"}"#, 0.0);
    let in_use = sample(&text, r#"keymint_db_pool_connections{state="in_use"}"#).unwrap();
    let idle = sample(&text, r#"keymint_db_pool_connections{state="idle"}"#).unwrap();
    let max = sample(&text, "keymint_db_pool_max_connections").unwrap();
    assert!(idle >= 1.0 && in_use + idle <= max, "{in_use} {idle} {max}");
    // The bootstrap key authenticated two API calls and one exchange, unflushed.
    expect("keymint_usage_pending_keys", 1.0);
}

/// Each server counts only its own requests (the registry is per server).
async fn two_servers_in_one_process_keep_separate_counts(backend: Backend) {
    let (Some(a), Some(b)) = (spawn_app(backend).await, spawn_app(backend).await) else {
        return;
    };
    for _ in 0..3 {
        a.client.get(a.url("/healthz")).send().await.unwrap();
    }
    let series = r#"keymint_http_requests_total{method="GET",route="/healthz",status="200"}"#;
    assert_eq!(sample(&scrape(&a).await, series), Some(3.0));
    assert_eq!(sample(&scrape(&b).await, series), None);
}

crate::on_both_backends!(
    metrics_count_requests_by_route_and_exchanges_by_outcome,
    two_servers_in_one_process_keep_separate_counts,
);
