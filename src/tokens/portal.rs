//! Claims of a portal session: one workspace, one of its customers
//! (`sub` = `external_id`), audience `<issuer>/portal`. Only the portal's
//! own API accepts it: the management API, `/auth/token` and downstream
//! services (which expect other audiences) all refuse it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalClaims {
    pub iss: String,
    /// The customer's `external_id`.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The workspace id.
    pub ws: String,
}

/// The audience of portal sessions for a given issuer.
pub fn portal_audience(issuer: &str) -> String {
    format!("{issuer}/portal")
}
