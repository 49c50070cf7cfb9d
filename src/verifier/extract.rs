//! The actix-web extractor: a handler that takes [`Verified`] runs only for
//! requests with a valid keymint access token, and gets its claims.
//!
//! The token comes from `Authorization: Bearer <jwt>`, from
//! `Authorization: DPoP <jwt>` with its proof in the `DPoP` header (a
//! DPoP-bound token comes only so), or, on a WebSocket upgrade only
//! (browsers cannot set headers there), from the `token` query parameter.
//! Elsewhere a query token is ignored: URLs end up in logs.
//!
//! A proof names the URL the client addressed. That is the verifier's
//! [`public_url`](super::VerifierBuilder::public_url) plus the request's
//! path when one is set (behind a proxy, set it), else the scheme this
//! server serves and the request's `Host`: never `X-Forwarded-*` headers,
//! which any client can send.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::{Presented, Verifier, VerifierError};
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
    #[error("The access token was refused: {0}.")]
    Dpop(super::DpopError),
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
            Rejection::Dpop(refused) => refused.code(),
            Rejection::KeysUnavailable => "unavailable",
            Rejection::NotConfigured => "internal_error",
        }
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejection::MissingToken | Rejection::Invalid(_) | Rejection::Dpop(_) => {
                StatusCode::UNAUTHORIZED
            }
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
            Rejection::Dpop(refused) => Some(format!(
                "DPoP error=\"{}\", error_description=\"{self}\"",
                refused.code()
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
            VerifierError::Dpop(refused) => Rejection::Dpop(refused),
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
        let proof = proof_of(request);
        let method = request.method().as_str().to_owned();
        let url = verifier.as_ref().map(|v| request_url(v, request));
        Box::pin(async move {
            let verifier = verifier.ok_or(Rejection::NotConfigured)?;
            let (token, dpop) = token.ok_or(Rejection::MissingToken)?;
            let proof = match (dpop, proof) {
                (false, _) => None,
                (true, Ok(Some(proof))) => Some(proof),
                (true, Ok(None) | Err(_)) => {
                    let missing = crate::dpop::ProofError::Malformed;
                    return Err(Rejection::Dpop(super::DpopError::Proof(missing)));
                }
            };
            let presented = Presented {
                proof: proof.as_deref(),
                method: &method,
                url: url.as_deref().unwrap_or_default(),
            };
            Ok(Verified(
                verifier.verify_presented(&token, &presented).await?,
            ))
        })
    }
}

/// The request's one `DPoP` header; several are an error.
fn proof_of(request: &HttpRequest) -> Result<Option<String>, &'static str> {
    let values = request
        .headers()
        .get_all("dpop")
        .map(|value| value.as_bytes());
    crate::dpop::proof::single_header(values).map(|proof| proof.map(str::to_owned))
}

/// The URL the client addressed, as its proof must name it.
fn request_url(verifier: &Verifier, request: &HttpRequest) -> String {
    if let Some(base) = verifier.public_url() {
        return format!("{}{}", base.trim_end_matches('/'), request.path());
    }
    let scheme = if request.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_else(|| request.app_config().host());
    format!("{scheme}://{host}{}", request.path())
}

/// The token and whether it came as DPoP: from `Authorization` (Bearer or
/// DPoP), or the `token` query parameter of a WebSocket upgrade.
fn token_of(request: &HttpRequest) -> Option<(String, bool)> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .and_then(|(scheme, token)| {
            let dpop = scheme.eq_ignore_ascii_case("dpop");
            (dpop || scheme.eq_ignore_ascii_case("bearer")).then(|| (token.trim().to_owned(), dpop))
        });
    authorization.or_else(|| {
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
            .find_map(|(name, value)| (name == "token").then_some((value, false)))
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
        assert_eq!(token_of(&bearer), Some(("abc.def.ghi".to_owned(), false)));
        let dpop = TestRequest::default()
            .insert_header(("Authorization", "DPoP abc.def.ghi"))
            .to_http_request();
        assert_eq!(token_of(&dpop), Some(("abc.def.ghi".to_owned(), true)));
        let basic = TestRequest::default()
            .insert_header(("Authorization", "Basic abc"))
            .to_http_request();
        assert_eq!(token_of(&basic), None);
        let upgrade = TestRequest::with_uri("/ws?x=1&token=a.b.c")
            .insert_header(("Upgrade", "WebSocket"))
            .to_http_request();
        assert_eq!(token_of(&upgrade), Some(("a.b.c".to_owned(), false)));
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
