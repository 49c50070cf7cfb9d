//! Tokens keymint issues: their claims and the jsonwebtoken crypto provider
//! used to verify them.

pub mod claims;
pub mod login;
pub mod own;
pub mod provider;

pub use claims::AccessClaims;
