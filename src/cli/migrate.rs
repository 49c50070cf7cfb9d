//! `keymint migrate`: apply pending migrations, print how many ran.

use crate::config::Config;
use crate::db;

pub fn run(config: &Config) -> Result<(), String> {
    let pool = db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
    let applied = db::migrate(&pool).map_err(|e| e.to_string())?;
    super::print_json(&serde_json::json!({ "applied": applied }))
}
