//! keymint's integration tests: one binary; each test starts the real server
//! on port 0 with a fresh database and speaks HTTP to it. Tests listed in
//! `on_both_backends!` run on SQLite and, with KEYMINT_TEST_POSTGRES_URL set,
//! on PostgreSQL.

mod binary;
mod browser;
mod cli;
mod cli_keys;
mod crashes;
mod dpop;
mod dpop_downstream;
mod errors;
mod exchange;
mod federation;
mod helpers;
mod https;
mod interop;
mod interop_clients;
mod interop_dpop;
mod introspection;
mod key_cache;
mod key_folder;
mod keys;
mod metrics;
mod oauth_forms;
mod outages;
mod people;
mod portal;
mod rate_limits;
mod readiness;
mod replicas;
mod request_log;
mod rotation;
mod schemathesis;
mod security;
mod shutdown;
mod throttling;
mod tls;
mod verifier;
mod wellknown;
