//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API,
//! generated from the handlers' annotations. A test compares it with the
//! route table, so a route cannot be registered without being documented.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{api, login, oauth, ops, pages, portal, token, wellknown};

/// Every error answer: `{"error", "detail"}` and what some codes add.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The contract's error code, e.g. `invalid_api_key`.
    error: String,
    /// One sentence for a person.
    detail: String,
    /// `validation_error`: one entry per bad field.
    errors: Option<Vec<crate::error::FieldError>>,
    /// OAuth forms of `/auth/token`: the same text as `detail`.
    error_description: Option<String>,
    /// `rate_limit_exceeded`: requests per second allowed.
    limit: Option<u32>,
    /// `rate_limit_exceeded`: seconds to wait.
    #[schema(rename = "retryAfter")]
    retry_after: Option<u64>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keymint",
        description = "Exchange long-lived API secrets for short-lived JWTs; manage keys, members and portal sessions."
    ),
    paths(
        token::token,
        login::login,
        login::accept_invite,
        oauth::introspect,
        oauth::revoke,
        wellknown::jwks,
        wellknown::authorization_server,
        wellknown::openid_configuration,
        api::people::me,
        api::people::create_workspace,
        api::people::get_workspace,
        api::people::update_workspace,
        api::people::list_members,
        api::people::add_member,
        api::people::change_member,
        api::people::remove_member,
        api::people::list_environments,
        api::people::add_environment,
        api::people::audit_log,
        api::portal_sessions::create,
        api::keys::list,
        api::keys::create,
        api::keys::get,
        api::keys::update,
        api::keys::revoke,
        api::keys::rotate,
        api::trust_policies::list,
        api::trust_policies::create,
        api::trust_policies::get,
        api::trust_policies::update,
        api::trust_policies::delete,
        api::personal::list,
        api::personal::create,
        api::personal::revoke,
        api::personal::rotate,
        portal::list,
        portal::create,
        portal::revoke,
        portal::rotate,
        pages::portal,
        pages::dashboard,
        pages::asset,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        document,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &CommonErrors)
)]
pub struct ApiDoc;

/// The credentials keymint accepts.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API secret (km?_...), a token from /auth/token or /auth/login, or a portal session"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Any route can answer these (the error middleware gives even the
/// framework's own errors the contract's shape), so every operation
/// documents them once, here, instead of in each annotation.
struct CommonErrors;

const COMMON_ERRORS: &[(&str, &str)] = &[
    ("400", "Malformed request"),
    ("401", "Missing or invalid credential"),
    ("403", "Credential of another workspace, or rights too low"),
    ("404", "Not found"),
    ("405", "Method not allowed"),
    ("409", "Conflict"),
    ("413", "Body over 64 KiB"),
    ("415", "Unsupported content type"),
    ("422", "Invalid fields"),
    ("429", "Rate limited"),
    ("500", "Internal error"),
    ("503", "Database unreachable or no signing key"),
];

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in COMMON_ERRORS {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(*description)
                                .content("application/json", error())
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// The document as served, rendered once.
fn rendered() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(rendered())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let document: serde_json::Value = serde_json::from_str(rendered()).unwrap();
        let mut found = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                found.insert((method.clone(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn every_registered_route_is_documented_and_nothing_else() {
        let registered: BTreeSet<(String, String)> = crate::http::ROUTES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let phantom: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "registered but not in /openapi.json: {undocumented:?}"
        );
        assert!(
            phantom.is_empty(),
            "documented but not registered: {phantom:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_errors_and_security() {
        let document: serde_json::Value = serde_json::from_str(rendered()).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        let create = &document["paths"]["/api/v1/workspaces/{ws}/keys"]["post"];
        assert_eq!(
            create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert!(create["responses"]["201"].is_object());
        assert!(document["components"]["securitySchemes"]["bearer"].is_object());
        assert!(document["components"]["schemas"]["KeyView"].is_object());
    }
}
