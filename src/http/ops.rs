//! Probes for orchestrators: liveness and readiness.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use crate::db;
use crate::state::AppState;

/// The process is up and answering.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve: the database answers and a key can sign now.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let database = web::block(move || db::ping(&pool)).await.unwrap_or(false);
    let signing_key = state.signing.signing_key(Utc::now()).is_some();
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
