//! keymint: a self-hostable token-exchange identity service.
//!
//! Clients exchange a long-lived API secret at `POST /auth/token` for a
//! short-lived JWT; downstream services verify it offline against
//! `/.well-known/jwks.json`. The binary is a thin wrapper over
//! [`cli::run`]; tests start the same [`server::Server`] on port 0.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod dpop;
pub mod error;
pub mod exchange;
pub mod federation;
pub mod http;
pub mod introspection;
pub mod jws;
pub mod key_kind;
pub mod login;
pub mod members;
pub mod metrics;
pub mod origin;
pub mod passwords;
pub mod portal;
pub mod ratelimit;
pub mod secrets;
pub mod server;
pub mod shared;
pub mod shutdown;
pub mod signing;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod usage;
pub mod used_once;
pub mod verifier;
pub mod workspaces;
