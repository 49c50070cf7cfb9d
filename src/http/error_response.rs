//! How an [`ApiError`] goes on the wire: its status, the contract's JSON
//! body, `Cache-Control: no-store`, and the challenge or `Retry-After` it
//! carries. The error itself (`crate::error`) knows nothing of actix.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = self.internal_cause() {
            log::error!("internal error: {cause}");
        }
        let mut response = HttpResponse::build(self.status());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge.into_owned()));
        }
        if let Some(nonce) = self.dpop_nonce() {
            response.insert_header((super::dpop::DPOP_NONCE, nonce.to_owned()));
        }
        if let Some(seconds) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    fn body_of(response: HttpResponse) -> serde_json::Value {
        let bytes = response.into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_response_carries_what_its_error_says() {
        let refused = ApiError::InvalidApiKey.in_oauth_form("invalid_client", true);
        let response = refused.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let headers = response.headers();
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(
            headers.get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"keymint\""
        );
        assert!(headers.get(header::RETRY_AFTER).is_none());
        assert_eq!(body_of(response), refused.body());

        let limited = ApiError::RateLimited {
            limit: 10,
            retry_after_secs: 1,
        };
        let response = limited.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_of(response)["retryAfter"], 1);
    }
}
