//! Claims of a portal session: one workspace, one of its customers
//! (`sub` = `external_id`), audience `<issuer>/portal`, and a `typ` of its
//! own (see [`super::kind`]). Only the portal's own API accepts it: the
//! management API, `/auth/token` and downstream services all refuse it.

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
