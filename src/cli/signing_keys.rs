//! `keymint signing-keys list | rotate | retire | import`: the keys folder
//! seen and changed from the command line. Servers sharing the folder pick
//! the changes up on their next reload.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::signing::rotation::{self, Rotation};
use crate::signing::{JWKS_MAX_AGE_SECS, KeyMetadata, KeyState, SigningAlg, import, store};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every key in the folder with its state and schedule.
    List,
    /// Generate a key that signs after --activate-in seconds; the current
    /// keys retire then.
    Rotate {
        /// ES256 or EdDSA [default: --signing-alg]. RS256 keys are imported.
        #[arg(long)]
        alg: Option<SigningAlg>,
        /// Seconds until the new key signs [default: JWKS max-age 300 + 60].
        #[arg(long, value_name = "SECONDS")]
        activate_in: Option<u32>,
    },
    /// Stop signing with KID now (it stays published until its tokens expire).
    Retire { kid: String },
    /// Add a PEM private key (PKCS#8, or PKCS#1 RSA) on the rotate schedule.
    Import {
        pem_path: PathBuf,
        /// Seconds until the imported key signs [default: 360].
        #[arg(long, value_name = "SECONDS")]
        activate_in: Option<u32>,
    },
}

/// One key as the commands print it.
#[derive(Debug, Serialize)]
struct KeyView {
    kid: String,
    alg: SigningAlg,
    state: KeyState,
    created_at: String,
    activate_at: String,
    retire_at: Option<String>,
    /// When it leaves the JWKS.
    unpublish_at: Option<String>,
}

impl KeyView {
    fn new(metadata: &KeyMetadata, now: DateTime<Utc>, max_token_ttl: Duration) -> Self {
        let time = |t: DateTime<Utc>| crate::clock::to_rfc3339(t.naive_utc());
        Self {
            kid: metadata.kid.clone(),
            alg: metadata.alg,
            state: metadata.state(now, max_token_ttl),
            created_at: time(metadata.created_at),
            activate_at: time(metadata.activate_at),
            retire_at: metadata.retire_at.map(time),
            unpublish_at: metadata.unpublish_at(max_token_ttl).map(time),
        }
    }
}

pub fn run(config: &Config, command: Command) -> Result<(), String> {
    let dir = &config.keys_dir;
    let max_ttl = Duration::seconds(i64::from(config.token_max_ttl));
    let now = Utc::now();
    let view = |metadata: &KeyMetadata| KeyView::new(metadata, now, max_ttl);
    match command {
        Command::List => {
            let loaded = store::load_dir(dir).map_err(|e| e.to_string())?;
            for problem in &loaded.problems {
                eprintln!("warning: skipping signing key: {problem}");
            }
            let keys: Vec<KeyView> = loaded.keys.iter().map(|k| view(&k.metadata)).collect();
            super::print_json(&serde_json::json!({ "keys": keys }))
        }
        Command::Rotate { alg, activate_in } => {
            let alg = alg.unwrap_or(config.signing_alg);
            let rotated = rotation::rotate(dir, alg, now, activate_in_or_default(activate_in))
                .map_err(|e| e.to_string())?;
            print_rotation(&rotated, view)
        }
        Command::Import {
            pem_path,
            activate_in,
        } => {
            let text = std::fs::read(&pem_path)
                .map_err(|e| format!("cannot read {}: {e}", pem_path.display()))?;
            let imported = import::from_pem(&text).map_err(|e| e.to_string())?;
            let added = rotation::import(dir, &imported, now, activate_in_or_default(activate_in))
                .map_err(|e| e.to_string())?;
            print_rotation(&added, view)
        }
        Command::Retire { kid } => {
            let retired = rotation::retire(dir, &kid, now).map_err(|e| e.to_string())?;
            super::print_json(&view(&retired))
        }
    }
}

/// The requested delay, with a warning when verifiers that cache the JWKS
/// as allowed may not know the new key when it starts signing.
fn activate_in_or_default(seconds: Option<u32>) -> Duration {
    match seconds {
        None => rotation::default_activate_in(),
        Some(seconds) => {
            if seconds < JWKS_MAX_AGE_SECS {
                eprintln!(
                    "warning: the new key signs in {seconds} s, before every verifier's cached \
                     JWKS (max-age {JWKS_MAX_AGE_SECS} s) has it; some may refuse its tokens until \
                     they refetch"
                );
            }
            Duration::seconds(i64::from(seconds))
        }
    }
}

fn print_rotation(
    rotation: &Rotation,
    view: impl Fn(&KeyMetadata) -> KeyView,
) -> Result<(), String> {
    let retiring: Vec<KeyView> = rotation.retiring.iter().map(&view).collect();
    super::print_json(&serde_json::json!({
        "created": view(&rotation.added.metadata),
        "retiring": retiring,
    }))
}
