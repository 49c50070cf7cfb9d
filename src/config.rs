//! Configuration: every setting is an environment variable with a matching
//! command-line flag (the flag wins). Defaults live in [`defaults`] and serve
//! both clap and [`Config::default`], so tests build a config without reading
//! the environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use ipnet::IpNet;

use crate::db::models::workspaces::Plan;
use crate::signing::SigningAlg;

pub mod defaults {
    pub const DATABASE_URL: &str = "sqlite://keymint.db";
    pub const BIND: &str = "127.0.0.1:8080";
    pub const KEYS_DIR: &str = "keys";
    pub const SIGNING_ALG: &str = "ES256";
    pub const TOKEN_TTL: u32 = 900;
    pub const TOKEN_MAX_TTL: u32 = 3600;
    pub const PORTAL_SESSION_TTL: u32 = 900;
    pub const DEFAULT_PLAN: &str = "pro";
    /// About 1 KiB each: 10 MiB at most.
    pub const KEY_CACHE_SIZE: usize = 10_000;
    pub const PORTAL_MAX_KEYS: u32 = 100;
}

/// The longest a portal session may be asked to live.
pub const MAX_PORTAL_SESSION_TTL: u32 = 86_400;

#[derive(clap::Args, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = defaults::DATABASE_URL, global = true)]
    pub database_url: String,

    /// Folder of signing keys (private key and schedule per kid).
    #[arg(long, env = "KEYMINT_KEYS_DIR", default_value = defaults::KEYS_DIR, global = true)]
    pub keys_dir: PathBuf,

    /// Listen address.
    #[arg(long, env = "KEYMINT_BIND", default_value = defaults::BIND, global = true)]
    pub bind: String,

    /// `iss` of every token and of the discovery documents [default: http(s)://<bind>].
    #[arg(long, env = "KEYMINT_ISSUER", global = true)]
    pub issuer: Option<String>,

    /// Algorithm of generated signing keys: ES256 or EdDSA (RS256 keys are imported).
    #[arg(long, env = "KEYMINT_SIGNING_ALG", default_value = defaults::SIGNING_ALG,
          value_parser = parse_alg, global = true)]
    pub signing_alg: SigningAlg,

    /// Default lifetime of exchanged tokens, in seconds.
    #[arg(long, env = "KEYMINT_TOKEN_TTL", default_value_t = defaults::TOKEN_TTL, global = true)]
    pub token_ttl: u32,

    /// Longest lifetime a client may ask for, in seconds.
    #[arg(long, env = "KEYMINT_TOKEN_MAX_TTL", default_value_t = defaults::TOKEN_MAX_TTL, global = true)]
    pub token_max_ttl: u32,

    /// Default lifetime of portal sessions, in seconds (at most 86400).
    #[arg(long, env = "KEYMINT_PORTAL_SESSION_TTL", default_value_t = defaults::PORTAL_SESSION_TTL, global = true)]
    pub portal_session_ttl: u32,

    /// PEM certificate chain: serve HTTPS.
    #[arg(long, env = "KEYMINT_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the certificate.
    #[arg(long, env = "KEYMINT_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<PathBuf>,

    /// Refuse plain-HTTP requests with 403 `https_required`.
    #[arg(long, env = "KEYMINT_REQUIRE_HTTPS", default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub require_https: bool,

    /// Comma-separated CIDRs whose `X-Forwarded-*` headers are believed.
    #[arg(
        long,
        env = "KEYMINT_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// On an empty database, create a workspace and print a key to try.
    #[arg(long, env = "KEYMINT_AUTO_BOOTSTRAP", default_value_t = true,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub auto_bootstrap: bool,

    /// Plan of workspaces created through the API.
    #[arg(long, env = "KEYMINT_DEFAULT_PLAN", default_value = defaults::DEFAULT_PLAN,
          value_parser = parse_plan, global = true)]
    pub default_plan: Plan,

    /// Keys kept in memory by secret, so most exchanges need no database
    /// work; 0 turns the cache off. Changes reach it as docs/storage.md
    /// ("Key cache") says: revocation stays immediate on every replica.
    #[arg(long, env = "KEYMINT_KEY_CACHE_SIZE", default_value_t = defaults::KEY_CACHE_SIZE,
          global = true)]
    pub key_cache_size: usize,

    /// Live keys one customer may hold through the portal; creating one
    /// more there is 409. Portal sessions are the least trusted callers.
    #[arg(long, env = "KEYMINT_PORTAL_MAX_KEYS", default_value_t = defaults::PORTAL_MAX_KEYS,
          global = true)]
    pub portal_max_keys: u32,

    /// Hand out DPoP nonces (RFC 9449 section 8) and require the current
    /// one in every proof.
    #[arg(long, env = "KEYMINT_DPOP_NONCE", default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub dpop_nonce: bool,

    /// `redis://HOST[:PORT][/DB]`: replicas share rate limits and failure
    /// throttles there [default: in PostgreSQL when that is the database,
    /// else in memory].
    #[arg(long, env = "KEYMINT_REDIS_URL", global = true)]
    pub redis_url: Option<String>,
}

fn parse_alg(text: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(text).ok_or_else(|| format!("{text:?} is not one of ES256, EdDSA, RS256"))
}

fn parse_plan(text: &str) -> Result<Plan, String> {
    Plan::parse(text)
        .ok_or_else(|| format!("{text:?} is not one of hobby, starter, pro, enterprise"))
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: defaults::DATABASE_URL.to_owned(),
            keys_dir: PathBuf::from(defaults::KEYS_DIR),
            bind: defaults::BIND.to_owned(),
            issuer: None,
            signing_alg: parse_alg(defaults::SIGNING_ALG).expect("valid default"),
            token_ttl: defaults::TOKEN_TTL,
            token_max_ttl: defaults::TOKEN_MAX_TTL,
            portal_session_ttl: defaults::PORTAL_SESSION_TTL,
            tls_cert: None,
            tls_key: None,
            require_https: false,
            trusted_proxies: Vec::new(),
            auto_bootstrap: true,
            default_plan: parse_plan(defaults::DEFAULT_PLAN).expect("valid default"),
            key_cache_size: defaults::KEY_CACHE_SIZE,
            portal_max_keys: defaults::PORTAL_MAX_KEYS,
            dpop_nonce: false,
            redis_url: None,
        }
    }
}

impl Config {
    /// Checks what clap cannot: relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: &str| Err(ConfigError(message.to_owned()));
        if self.token_ttl == 0 || self.token_max_ttl == 0 {
            return fail("token lifetimes must be at least 1 second");
        }
        if self.token_ttl > self.token_max_ttl {
            return fail("KEYMINT_TOKEN_TTL must not exceed KEYMINT_TOKEN_MAX_TTL");
        }
        if self.portal_session_ttl == 0 || self.portal_session_ttl > MAX_PORTAL_SESSION_TTL {
            return fail("KEYMINT_PORTAL_SESSION_TTL must be between 1 and 86400 seconds");
        }
        if self.bind.parse::<SocketAddr>().is_err() {
            return fail("KEYMINT_BIND must be an address like 127.0.0.1:8080");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return fail("KEYMINT_TLS_CERT and KEYMINT_TLS_KEY go together");
        }
        if let Some(issuer) = &self.issuer
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            return fail("KEYMINT_ISSUER must be an http(s) URL");
        }
        Ok(())
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The issuer: the configured one, else this server's own address as
    /// actually bound (so port 0 resolves to the real port).
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls_enabled() { "https" } else { "http" };
                format!("{scheme}://{bound}")
            }
        }
    }
}

/// The database URL with any password replaced, fit for a log line.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("keys_dir", &self.keys_dir)
            .field("bind", &self.bind)
            .field("issuer", &self.issuer)
            .field("signing_alg", &self.signing_alg)
            .field("token_ttl", &self.token_ttl)
            .field("token_max_ttl", &self.token_max_ttl)
            .field("portal_session_ttl", &self.portal_session_ttl)
            .field("tls", &self.tls_enabled())
            .field("require_https", &self.require_https)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("auto_bootstrap", &self.auto_bootstrap)
            .field("default_plan", &self.default_plan)
            .field("key_cache_size", &self.key_cache_size)
            .field("portal_max_keys", &self.portal_max_keys)
            .field("dpop_nonce", &self.dpop_nonce)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_relations_are_checked() {
        assert!(Config::default().validate().is_ok());
        let too_long = Config {
            token_ttl: 4000,
            ..Config::default()
        };
        assert!(too_long.validate().is_err());
        let portal = Config {
            portal_session_ttl: 86_401,
            ..Config::default()
        };
        assert!(portal.validate().is_err());
        let bad_bind = Config {
            bind: "localhost".into(),
            ..Config::default()
        };
        assert!(bad_bind.validate().is_err());
    }

    #[test]
    fn issuer_follows_the_bound_address_unless_configured() {
        let bound: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(
            Config::default().issuer_for(bound),
            "http://127.0.0.1:41234"
        );
        let fixed = Config {
            issuer: Some("https://id.example.com/".into()),
            ..Config::default()
        };
        assert_eq!(fixed.issuer_for(bound), "https://id.example.com");
    }

    #[test]
    fn passwords_never_reach_debug_output() {
        let config = Config {
            database_url: "postgres://app:hunter2@db/keymint".into(),
            ..Config::default()
        };
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("app:***@db"),
            "{debug}"
        );
        assert_eq!(redact_url("sqlite://keymint.db"), "sqlite://keymint.db");
    }
}
