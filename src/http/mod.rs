//! The HTTP surface: the whole route table in [`configure`], one module per
//! area, and the middleware that keeps every error in the contract's shape.

pub mod api;
pub mod auth;
pub mod client;
pub mod credentials;
pub mod dpop;
pub mod error_response;
pub mod json;
pub mod login;
pub mod oauth;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod pagination;
pub mod portal;
pub mod rate_limit;
pub mod request_id;
pub mod shapes;
pub mod text;
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

/// The whole route table: every path with its methods and handlers. One
/// list feeds actix (`register`) and [`ROUTES`], which the OpenAPI test
/// compares with `/openapi.json`, so the document cannot miss a route.
macro_rules! route_table {
    ($($path:literal => { $($method:ident: $handler:path),+ $(,)? })+) => {
        /// `(method, path)` of every registered route.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path),)+)+];

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.service(endpoint($path)$(.route(web::$method().to($handler)))+);)+
        }
    };
}

route_table! {
    "/auth/token" => { post: token::token }
    "/auth/login" => { post: login::login }
    "/auth/accept-invite" => { post: login::accept_invite }
    "/auth/introspect" => { post: oauth::introspect }
    "/auth/revoke" => { post: oauth::revoke }
    "/.well-known/jwks.json" => { get: wellknown::jwks }
    "/.well-known/oauth-authorization-server" => { get: wellknown::authorization_server }
    "/.well-known/openid-configuration" => { get: wellknown::openid_configuration }
    "/api/v1/me" => { get: api::people::me }
    "/api/v1/workspaces" => { post: api::people::create_workspace }
    "/api/v1/workspaces/{ws}" => { get: api::people::get_workspace, patch: api::people::update_workspace }
    "/api/v1/workspaces/{ws}/members" => { get: api::people::list_members, post: api::people::add_member }
    "/api/v1/workspaces/{ws}/members/{user_id}" => {
        patch: api::people::change_member,
        delete: api::people::remove_member,
    }
    "/api/v1/workspaces/{ws}/environments" => {
        get: api::people::list_environments,
        post: api::people::add_environment,
    }
    "/api/v1/workspaces/{ws}/audit-log" => { get: api::people::audit_log }
    "/api/v1/workspaces/{ws}/portal-sessions" => { post: api::portal_sessions::create }
    "/api/v1/workspaces/{ws}/keys" => { get: api::keys::list, post: api::keys::create }
    "/api/v1/workspaces/{ws}/keys/{id}" => {
        get: api::keys::get,
        patch: api::keys::update,
        delete: api::keys::revoke,
    }
    "/api/v1/workspaces/{ws}/keys/{id}/rotate" => { post: api::keys::rotate }
    "/api/v1/workspaces/{ws}/trust-policies" => {
        get: api::trust_policies::list,
        post: api::trust_policies::create,
    }
    "/api/v1/workspaces/{ws}/trust-policies/{id}" => {
        get: api::trust_policies::get,
        patch: api::trust_policies::update,
        delete: api::trust_policies::delete,
    }
    "/api/v1/users/me/api-keys" => { get: api::personal::list, post: api::personal::create }
    "/api/v1/users/me/api-keys/{id}" => { delete: api::personal::revoke }
    "/api/v1/users/me/api-keys/{id}/rotate" => { post: api::personal::rotate }
    "/portal/api/keys" => { get: portal::list, post: portal::create }
    "/portal/api/keys/{id}" => { delete: portal::revoke }
    "/portal/api/keys/{id}/rotate" => { post: portal::rotate }
    "/portal/{ws}" => { get: pages::portal }
    "/dashboard" => { get: pages::dashboard }
    "/assets/{name}" => { get: pages::asset }
    "/healthz" => { get: ops::healthz }
    "/readyz" => { get: ops::readyz }
    "/metrics" => { get: ops::metrics }
    "/openapi.json" => { get: openapi::document }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES));
    register(cfg);
    // After every route: what is left under /api/v1 needs a credential
    // before it learns that the route does not exist.
    cfg.configure(api::configure)
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
