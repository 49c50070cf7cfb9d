//! Tokens keymint issues: their kinds and claims, the one place that signs
//! them, the jsonwebtoken crypto provider and the rules that verify them.

pub mod claims;
pub mod issue;
pub mod kind;
pub mod login;
pub mod own;
pub mod portal;
pub mod provider;
pub mod verify;

pub use claims::AccessClaims;
pub use kind::TokenKind;
