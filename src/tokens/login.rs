//! Claims of a login token: a person's session on the management API.
//! Its `typ` is keymint's own (see [`super::kind`]), so no access token is
//! ever taken for a login, and its audience is `<issuer>/api`, so
//! downstream services that expect exchanged tokens refuse it too.

use serde::{Deserialize, Serialize};

use super::claims::Registered;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginClaims {
    /// `sub` is the user id.
    #[serde(flatten)]
    pub registered: Registered,
    pub email: String,
}
