//! What the API reads and writes: request bodies, parsed at the boundary
//! into the arguments the domain takes, and the views of what it returns.
//! The names are the contract's; the schemas feed `/openapi.json`.

pub mod fields;
pub mod key_bodies;
pub mod keys;
pub mod people;
pub mod portal;
pub mod trust_policies;
