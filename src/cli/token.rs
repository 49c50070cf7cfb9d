//! `keymint token verify JWT [--jwks URL]`: the claims of a valid token as
//! JSON, or why it is invalid (exit 1). Without `--jwks` the keys come from
//! the keys folder, as published at this instant.

use chrono::{Duration, Utc};

use crate::config::Config;
use crate::signing::SigningKeys;
use crate::tokens::verify::{self, Expectations, KeySet};
use crate::verifier::Verifier;

const JWKS_PATH: &str = "/.well-known/jwks.json";

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a JWT and print its claims.
    Verify {
        jwt: String,
        /// A JWKS URL to verify against instead of the keys folder; the
        /// issuer is then the URL without /.well-known/jwks.json unless
        /// --issuer says otherwise.
        #[arg(long, value_name = "URL")]
        jwks: Option<String>,
        /// The expected `aud` [default: the issuer].
        #[arg(long)]
        audience: Option<String>,
        /// Fetch --jwks over plain HTTP from a host other than loopback
        /// (anyone on the path could swap the keys).
        #[arg(long)]
        allow_insecure_http: bool,
    },
}

pub fn run(config: &Config, command: Command) -> Result<(), String> {
    let Command::Verify {
        jwt,
        jwks,
        audience,
        allow_insecure_http,
    } = command;
    let jwt = jwt.trim();
    let claims = match jwks {
        Some(url) => {
            let issuer = match &config.issuer {
                Some(issuer) => issuer.clone(),
                None => url.strip_suffix(JWKS_PATH).unwrap_or(&url).to_owned(),
            };
            let audience = audience.unwrap_or_else(|| issuer.clone());
            let mut builder = Verifier::builder(issuer).jwks_url(url).audience(audience);
            if allow_insecure_http {
                builder = builder.allow_insecure_http();
            }
            let verifier = builder.build().map_err(|e| e.to_string())?;
            actix_web::rt::System::new()
                .block_on(verifier.inspect(jwt))
                .map_err(|e| format!("invalid token: {e}"))?
        }
        None => {
            let bound = config.bind.parse().map_err(|_| {
                "KEYMINT_BIND must be an address like 127.0.0.1:8080 (it names the issuer)"
                    .to_owned()
            })?;
            let issuer = config.issuer_for(bound);
            let audience = audience.unwrap_or_else(|| issuer.clone());
            let max_ttl = Duration::seconds(i64::from(config.token_max_ttl));
            let signing = SigningKeys::open(&config.keys_dir, max_ttl, Default::default())
                .map_err(|e| e.to_string())?;
            let now = Utc::now();
            let keys = KeySet::published(&signing, now);
            verify::verify(
                jwt,
                &keys,
                &Expectations::new(issuer, audience),
                now.timestamp(),
            )
            .map_err(|e| format!("invalid token: {e}"))?
        }
    };
    super::print_json(&claims)
}
