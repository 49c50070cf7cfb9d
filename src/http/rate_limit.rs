//! The `X-RateLimit-*` headers. Whoever authenticates a request (the
//! [`Caller`](crate::authz::Caller) extractor, the exchange) decides on its
//! rate and [`record`]s the decision in the request's extensions; the
//! [`headers`] middleware then writes it on the response, whether the
//! handler succeeded or failed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

use crate::error::ApiError;
use crate::ratelimit::RateStatus;

pub const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Keeps `status` for the response headers; 429 if it refused the request.
pub fn record(request: &HttpRequest, status: RateStatus) -> Result<(), ApiError> {
    request.extensions_mut().insert(status);
    status.check()
}

/// Middleware: the recorded decision, if any, as response headers.
pub async fn headers(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    let status = response.request().extensions().get::<RateStatus>().copied();
    if let Some(status) = status {
        write(response.headers_mut(), &status);
    }
    Ok(response)
}

fn write(headers: &mut HeaderMap, status: &RateStatus) {
    headers.insert(LIMIT, HeaderValue::from(status.limit));
    headers.insert(REMAINING, HeaderValue::from(status.remaining));
    headers.insert(RESET, HeaderValue::from(status.reset_unix));
}
