//! Claims of a portal session: one workspace, one of its customers
//! (`sub` = `external_id`), audience `<issuer>/portal`. Only the portal's
//! own API accepts it: the management API, `/auth/token` and downstream
//! services (which expect other audiences) all refuse it.

use serde::{Deserialize, Serialize};

use super::claims::Registered;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalClaims {
    /// `sub` is the customer's `external_id`.
    #[serde(flatten)]
    pub registered: Registered,
    /// The workspace id.
    pub ws: String,
}

/// The audience of portal sessions for a given issuer.
pub fn portal_audience(issuer: &str) -> String {
    format!("{issuer}/portal")
}
