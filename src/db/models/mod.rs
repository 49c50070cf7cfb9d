//! Rows and queries, one file per aggregate. Functions take
//! `&mut DbConnection` so callers can compose them in one transaction.

pub mod api_keys;
pub mod audit;
pub mod invitations;
pub mod key_usage;
pub mod memberships;
pub mod server_secrets;
pub mod shared_limits;
pub mod trust_policies;
pub mod used_once;
pub mod users;
pub mod workspaces;

/// A new random id, as stored in every `id` column.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
