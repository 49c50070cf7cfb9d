//! Claims of a login token: a person's session on the management API.
//! Its audience is `<issuer>/api`, so downstream services that expect
//! exchanged tokens (audience: the issuer, or their own) refuse it, and
//! exchanged tokens are never taken for a login.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginClaims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub email: String,
}

/// The audience of login tokens for a given issuer.
pub fn login_audience(issuer: &str) -> String {
    format!("{issuer}/api")
}
