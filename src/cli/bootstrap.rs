//! `keymint bootstrap --workspace SLUG --email EMAIL [--password PW]`.

use crate::bootstrap::{self, BootstrapRequest};
use crate::config::Config;
use crate::db;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Slug of the new workspace (fails if it exists).
    #[arg(long)]
    workspace: String,
    /// Owner's email; an existing user with it is reused.
    #[arg(long)]
    email: String,
    /// Owner's password for /auth/login.
    #[arg(long)]
    password: Option<String>,
}

pub fn run(config: &Config, args: Args) -> Result<(), String> {
    let pool = db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
    db::migrate(&pool).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let request = BootstrapRequest {
        workspace_slug: args.workspace,
        email: args.email,
        password: args.password,
    };
    let done = bootstrap::bootstrap(&mut conn, &request).map_err(|e| e.detail())?;
    super::print_json(&done)
}
