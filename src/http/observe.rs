//! What every request leaves behind: a request id (echoed in `X-Request-Id`),
//! one log line and its count in the metrics. Paths are logged as route
//! patterns, never raw: no ids, no query strings, no secrets.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};

use super::client::client_ip;
use super::request_id::{self, RequestId};
use crate::metrics::UNMATCHED_ROUTE;
use crate::state::AppState;

/// The API key a request authenticated with, noted by whoever learned it
/// (the exchange, the `Caller` extractor) for the log line.
#[derive(Debug, Clone)]
struct KeyIdNote(String);

/// Records which key the request used; shows as `key_id=` in its log line.
pub fn note_key_id(request: &HttpRequest, key_id: &str) {
    request
        .extensions_mut()
        .insert(KeyIdNote(key_id.to_owned()));
}

/// The middleware: outermost, so it sees the final status of every answer.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = RequestId::from_headers(request.headers());
    request.extensions_mut().insert(id.clone());
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let method = request.method().clone();
    let client = state
        .as_ref()
        .and_then(|s| client_ip(request.request(), &s.config.trusted_proxies));

    let result = next.call(request).await;
    let (status, route, key_id) = match &result {
        Ok(response) => {
            let request = response.request();
            (
                response.status(),
                request
                    .match_pattern()
                    .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
                request.extensions().get::<KeyIdNote>().map(|k| k.0.clone()),
            )
        }
        // Errors raised by middleware itself: no route was reached.
        Err(error) => (
            error.as_response_error().status_code(),
            UNMATCHED_ROUTE.to_owned(),
            None,
        ),
    };
    if let Some(state) = &state {
        state.metrics.record_request(&route, &method, status);
    }
    let level = if status.is_server_error() {
        log::Level::Warn
    } else {
        log::Level::Info
    };
    log::log!(
        level,
        "method={method} route={route} status={} duration_ms={:.1} request_id={} client={} key_id={}",
        status.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0,
        id.as_str(),
        client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        key_id.as_deref().unwrap_or("-"),
    );
    let mut response = result?;
    response.headers_mut().insert(
        HeaderName::from_static(request_id::HEADER),
        HeaderValue::from_str(id.as_str()).expect("request ids are visible ASCII"),
    );
    Ok(response)
}
