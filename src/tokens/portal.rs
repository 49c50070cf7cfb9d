//! Claims of a portal session: one workspace, one of its customers
//! (`sub` = `external_id`), audience `<issuer>/portal`, and a `typ` of its
//! own (see [`super::kind`]). Only the portal's own API accepts it: the
//! management API, `/auth/token` and downstream services all refuse it.

use serde::{Deserialize, Serialize};

use super::claims::{Confirmation, Registered};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalClaims {
    /// `sub` is the customer's `external_id`.
    #[serde(flatten)]
    pub registered: Registered,
    /// The workspace id.
    pub ws: String,
    /// The key the session is bound to (DPoP), when it was minted with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}
