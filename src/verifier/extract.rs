//! The actix-web extractor: a handler that takes [`Verified`] runs only for
//! requests with a valid keymint access token, and gets its claims.
//!
//! The token comes from `Authorization: Bearer <jwt>`, or, on a WebSocket
//! upgrade only (browsers cannot set headers there), from the `token` query
//! parameter. Elsewhere a query token is ignored: URLs end up in logs.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::{Verifier, VerifierError};
use crate::tokens::AccessClaims;

/// The verified claims of the request's access token. Register the
/// [`Verifier`] with `App::app_data(web::Data::new(verifier))`.
#[derive(Debug, Clone)]
pub struct Verified(pub AccessClaims);

impl std::ops::Deref for Verified {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.0
    }
}

/// Why a request was turned away, as the contract's error JSON.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("A bearer access token is required.")]
    MissingToken,
    #[error("The access token was refused: {0}.")]
    Invalid(crate::tokens::verify::VerifyError),
    #[error("The signing keys cannot be fetched; try again shortly.")]
    KeysUnavailable,
    #[error("The service has no keymint verifier configured.")]
    NotConfigured,
}

impl Rejection {
    fn code(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "unauthorized",
            Rejection::Invalid(_) => "invalid_token",
            Rejection::KeysUnavailable => "unavailable",
            Rejection::NotConfigured => "internal_error",
        }
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejection::MissingToken | Rejection::Invalid(_) => StatusCode::UNAUTHORIZED,
            Rejection::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        // RFC 6750 section 3: no error code when no token was sent.
        let challenge = match self {
            Rejection::MissingToken => Some("Bearer".to_owned()),
            Rejection::Invalid(_) => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{self}\""
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        response.json(json!({ "error": self.code(), "detail": self.to_string() }))
    }
}

impl From<VerifierError> for Rejection {
    fn from(error: VerifierError) -> Self {
        match error {
            VerifierError::Token(reason) => Rejection::Invalid(reason),
            VerifierError::Keys(cause) => {
                log::warn!("cannot verify tokens: {cause}");
                Rejection::KeysUnavailable
            }
        }
    }
}

impl FromRequest for Verified {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = request
            .app_data::<web::Data<Verifier>>()
            .map(|data| data.get_ref().clone())
            .or_else(|| request.app_data::<Verifier>().cloned());
        let token = token_of(request);
        Box::pin(async move {
            let verifier = verifier.ok_or(Rejection::NotConfigured)?;
            let token = token.ok_or(Rejection::MissingToken)?;
            Ok(Verified(verifier.verify(&token).await?))
        })
    }
}

/// The Bearer token, or the `token` query parameter of a WebSocket upgrade.
fn token_of(request: &HttpRequest) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    bearer.or_else(|| {
        let upgrade = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        if !upgrade {
            return None;
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(request.query_string())
            .ok()?
            .into_iter()
            .find_map(|(name, value)| (name == "token").then_some(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn tokens_come_from_the_bearer_header_or_a_websocket_upgrade_query() {
        let bearer = TestRequest::default()
            .insert_header(("Authorization", "bearer abc.def.ghi"))
            .to_http_request();
        assert_eq!(token_of(&bearer).as_deref(), Some("abc.def.ghi"));
        let basic = TestRequest::default()
            .insert_header(("Authorization", "Basic abc"))
            .to_http_request();
        assert_eq!(token_of(&basic), None);
        let upgrade = TestRequest::with_uri("/ws?x=1&token=a.b.c")
            .insert_header(("Upgrade", "WebSocket"))
            .to_http_request();
        assert_eq!(token_of(&upgrade).as_deref(), Some("a.b.c"));
        let plain_get = TestRequest::with_uri("/data?token=a.b.c").to_http_request();
        assert_eq!(token_of(&plain_get), None, "query tokens only on upgrades");
    }

    #[test]
    fn rejections_use_the_contract_error_shape() {
        let missing = Rejection::MissingToken.error_response();
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        let invalid =
            Rejection::Invalid(crate::tokens::verify::VerifyError::Expired).error_response();
        assert_eq!(invalid.status(), 401);
        assert!(
            invalid
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert_eq!(Rejection::KeysUnavailable.error_response().status(), 503);
    }
}
