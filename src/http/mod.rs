//! The HTTP surface: the whole route table in [`configure`], one module per
//! area, and the middleware that keeps every error in the contract's shape.

pub mod api;
pub mod auth;
pub mod client;
pub mod credentials;
pub mod json;
pub mod login;
pub mod ops;
pub mod pagination;
pub mod rate_limit;
pub mod token;
pub mod wellknown;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{HttpResponse, ResponseError, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body accepted anywhere (413 above).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .configure(api::configure)
        .service(endpoint("/healthz").route(web::get().to(ops::healthz)))
        .service(endpoint("/readyz").route(web::get().to(ops::readyz)))
        .service(endpoint("/auth/token").route(web::post().to(token::token)))
        .service(endpoint("/auth/login").route(web::post().to(login::login)))
        .service(endpoint("/auth/accept-invite").route(web::post().to(login::accept_invite)))
        .service(endpoint("/.well-known/jwks.json").route(web::get().to(wellknown::jwks)))
        .service(
            endpoint("/.well-known/oauth-authorization-server")
                .route(web::get().to(wellknown::authorization_server)),
        )
        .service(
            endpoint("/.well-known/openid-configuration")
                .route(web::get().to(wellknown::authorization_server)),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::not_found("route"))
        }));
}

/// A resource whose other methods answer 405 (without this, actix hands
/// them to the app's default service, a 404).
pub(crate) fn endpoint(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

/// Rewrites error responses that actix produced itself (payload too large,
/// bad extractor input, method not allowed...) into `{"error", "detail"}`,
/// so no client ever sees a plain-text error.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let status = response.status();
        let error = match status.as_u16() {
            400 => ApiError::InvalidRequest("The request is malformed.".to_owned()),
            401 => ApiError::Unauthorized,
            404 => ApiError::not_found("route"),
            405 => ApiError::MethodNotAllowed,
            413 => ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            },
            415 => ApiError::UnsupportedMediaType("Unsupported content type.".to_owned()),
            503 => ApiError::Unavailable,
            _ if status.is_client_error() => {
                ApiError::InvalidRequest("The request was refused.".to_owned())
            }
            _ => ApiError::internal(format!("framework error response {status}")),
        };
        let (request, _) = response.into_parts();
        let mut rewritten: HttpResponse<BoxBody> = error.error_response();
        *rewritten.status_mut() = status;
        let response = ServiceResponse::new(request, rewritten).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(response))
    })
}

/// `KEYMINT_REQUIRE_HTTPS`: plain-HTTP requests get 403 `https_required`,
/// except the probes, which orchestrators call on the pod address.
pub async fn require_https(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let enforced = state.as_ref().is_some_and(|s| s.config.require_https);
    let exempt = matches!(request.path(), "/healthz" | "/readyz");
    if enforced && !exempt {
        let trusted = &state
            .as_ref()
            .expect("checked above")
            .config
            .trusted_proxies;
        if !client::is_https(request.request(), trusted) {
            let response = ApiError::HttpsRequired.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}
