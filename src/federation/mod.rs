//! Workload identity federation: a workload that holds a short-lived JWT
//! of its platform (a GitHub Actions OIDC token, a Kubernetes
//! service-account token, any OIDC issuer's) exchanges it for a keymint
//! token under a workspace's trust policy, with no long-lived secret.
//!
//! [`policy`] says what a policy is and whether claims meet it; [`token`]
//! checks an external token against one; [`issuers`] fetches and caches
//! issuers' keys; [`manage`] is the policies' management API. The exchange
//! itself is `exchange::federated`.

pub mod issuers;
pub mod manage;
pub mod policy;
pub mod token;

pub use issuers::Issuers;
