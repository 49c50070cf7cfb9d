//! A downstream service protected by keymint's verifier: its handlers take
//! `Verified` and so run only for valid keymint access tokens.
//!
//! ```sh
//! KEYMINT_ISSUER=http://127.0.0.1:8080 cargo run --example downstream
//! TOKEN=$(curl -s -X POST http://127.0.0.1:8080/auth/token -H "Authorization: Bearer $KEY" | jq -r .access_token)
//! curl -s http://127.0.0.1:8081/whoami -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! A DPoP-bound token (RFC 9449) comes as `Authorization: DPoP <token>`
//! with a fresh proof of its key in the `DPoP` header, made for this
//! service's URL; the extractor checks the proof, and refuses the token as
//! Bearer, a proof of another key, or a proof used twice.
//!
//! `DOWNSTREAM_AUDIENCE` sets the expected `aud` (default: the issuer, what
//! keymint puts there unless the client asks for an `audience`),
//! `DOWNSTREAM_BIND` the address (default 127.0.0.1:8081), and
//! `DOWNSTREAM_PUBLIC_URL` the URL clients address it by, when a proxy
//! stands in front (what their DPoP proofs name).

use actix_web::{App, HttpResponse, HttpServer, get, web};
use keymint::verifier::{Verified, Verifier};
use serde_json::json;

/// Who is calling: any valid token.
#[get("/whoami")]
async fn whoami(caller: Verified) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": caller.registered.sub,
        "workspace": caller.ws,
        "kind": caller.kind,
        "scope": caller.scope,
        // Bound to the caller's key: it came with a proof of that key.
        "dpop_jkt": caller.cnf.as_ref().map(|cnf| &cnf.jkt),
    }))
}

/// A route that needs a scope: the token is valid, the right is checked here.
#[get("/reports")]
async fn reports(caller: Verified) -> HttpResponse {
    if !caller.scope.split(' ').any(|scope| scope == "reports:read") {
        return HttpResponse::Forbidden().json(json!({
            "error": "insufficient_permissions",
            "detail": "This route needs the scope reports:read.",
        }));
    }
    HttpResponse::Ok().json(json!({ "reports": [] }))
}

/// The routes, apart from `main` so tests can mount them too.
pub fn routes(config: &mut web::ServiceConfig) {
    config.service(whoami).service(reports);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    let issuer = std::env::var("KEYMINT_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("DOWNSTREAM_AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let bind = std::env::var("DOWNSTREAM_BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let mut builder = Verifier::builder(issuer).audience(audience);
    if let Ok(public_url) = std::env::var("DOWNSTREAM_PUBLIC_URL") {
        builder = builder.public_url(public_url);
    }
    let verifier = builder.build().map_err(std::io::Error::other)?;
    let verifier = web::Data::new(verifier);
    log::info!("downstream example listening on {bind}");
    HttpServer::new(move || App::new().app_data(verifier.clone()).configure(routes))
        .bind(bind)?
        .run()
        .await
}
