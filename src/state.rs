//! What every handler shares: configuration, database pool, signing keys and
//! the usage buffer. Built once per server, passed as `web::Data`.

use crate::config::Config;
use crate::db::Pool;
use crate::signing::SigningKeys;
use crate::usage::UsageBuffer;

pub struct AppState {
    pub config: Config,
    /// `iss` of every token: configured, or derived from the bound address.
    pub issuer: String,
    pub pool: Pool,
    pub signing: SigningKeys,
    pub usage: UsageBuffer,
}
