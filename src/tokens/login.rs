//! Claims of a login token: a person's session on the management API.
//! Its audience is `<issuer>/api`, so downstream services that expect
//! exchanged tokens (audience: the issuer, or their own) refuse it, and
//! exchanged tokens are never taken for a login.

use serde::{Deserialize, Serialize};

use super::claims::Registered;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginClaims {
    /// `sub` is the user id.
    #[serde(flatten)]
    pub registered: Registered,
    pub email: String,
}

/// The audience of login tokens for a given issuer.
pub fn login_audience(issuer: &str) -> String {
    format!("{issuer}/api")
}
