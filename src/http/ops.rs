//! Operations endpoints: liveness and readiness probes for orchestrators,
//! and the Prometheus metrics.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use crate::db;
use crate::metrics::{self, LimitsGauges, PoolGauges};
use crate::shared::Shared;
use crate::state::AppState;

/// The process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Object)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve: the database answers and a key can sign now.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Object), (status = 503, description = "Database unreachable or no key can sign", body = Object)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let database = web::block(move || db::ping(&pool)).await.unwrap_or(false);
    let signing_key = state.signer().is_ok();
    let body = json!({
        "status": if database && signing_key { "ready" } else { "unavailable" },
        "database": database,
        "signing_key": signing_key,
    });
    if database && signing_key {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: the Prometheus text format. Gauges are read now; the
/// pool's numbers come from r2d2 without checking a connection out, so a
/// scrape works (and shows the trouble) while the database is down.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = Utc::now();
    let keys = state.signing.snapshot();
    let pool = state.pool.state();
    let text = state.metrics.render(
        keys.iter().map(|key| state.signing.state_of(key, now)),
        PoolGauges {
            connections: pool.connections,
            idle: pool.idle_connections,
            max: state.pool.max_size(),
        },
        state.usage.pending_keys(),
        state.keys.len(),
        LimitsGauges {
            mode: Shared::mode(state.shared.as_deref()),
            fallbacks: state.shared.as_ref().map_or(0, |s| s.fallbacks()),
        },
    );
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(text)
}
