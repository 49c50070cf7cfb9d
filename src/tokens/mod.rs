//! Tokens keymint issues: their claims, the jsonwebtoken crypto provider
//! and the rules that verify them.

pub mod claims;
pub mod login;
pub mod own;
pub mod portal;
pub mod provider;
pub mod verify;

pub use claims::AccessClaims;
