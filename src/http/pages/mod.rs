//! The two web pages keymint serves, with every asset inside the binary (no
//! CDN): the embeddable portal (`/portal/{ws}`, framed only by the
//! workspace's allowed origins) and the members' dashboard (`/dashboard`,
//! never framed).

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder, web};

use crate::db::{self, models::workspaces};
use crate::error::ApiError;
use crate::state::AppState;

const PORTAL_HTML: &str = include_str!("portal.html");
const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// `(name, content type, body)` of every static asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "keymint.css",
        "text/css; charset=utf-8",
        include_str!("keymint.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("common.js"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_str!("portal.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard.js"),
    ),
];

/// Only same-origin scripts, styles and calls; who may frame the page is
/// the one part that varies.
fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// The frame-ancestors source list for a workspace's allowed origins;
/// none set means no one may frame the portal.
pub fn frame_ancestors(origins: &[String]) -> String {
    if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    }
}

fn html_page(csp: String) -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

#[utoipa::path(get, path = "/portal/{ws}", tag = "portal", params(("ws" = String, Path, description = "Workspace id or slug")),
    responses((status = 200, description = "The portal page (open it with #session=<token>)", content_type = "text/html", body = String)))]
pub async fn portal(
    state: web::Data<AppState>,
    ws: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let workspace = db::run(&state.pool, move |conn| Ok(workspaces::find(conn, &ws)?))
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let csp = content_security_policy(&frame_ancestors(&workspace.portal_origins()));
    Ok(html_page(csp).body(PORTAL_HTML))
}

#[utoipa::path(get, path = "/dashboard", tag = "people",
    responses((status = 200, description = "The members' dashboard", content_type = "text/html", body = String)))]
pub async fn dashboard() -> HttpResponse {
    html_page(content_security_policy("'none'"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(DASHBOARD_HTML)
}

#[utoipa::path(get, path = "/assets/{name}", tag = "portal", params(("name" = String, Path)),
    responses((status = 200, description = "A script or style sheet of the pages", content_type = "text/javascript", body = String)))]
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name.as_str())
        .ok_or_else(|| ApiError::not_found("asset"))?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(*body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_list_the_allowed_origins_or_none() {
        assert_eq!(frame_ancestors(&[]), "'none'");
        let origins = vec![
            "https://app.acme.test".to_owned(),
            "http://localhost:3000".to_owned(),
        ];
        assert_eq!(
            frame_ancestors(&origins),
            "https://app.acme.test http://localhost:3000"
        );
        assert!(content_security_policy("'none'").ends_with("frame-ancestors 'none'"));
    }
}
