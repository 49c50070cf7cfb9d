//! Password login: a JWT for the management API (audience `<issuer>/api`).
//!
//! A wrong email and a wrong password look the same from outside: the same
//! 401 `invalid_credentials`, after the same PBKDF2 work. Attempts are
//! throttled per client IP and per email, counted before the hash runs (on
//! the hashing pool, never the database's threads) and forgiven when they
//! succeed.

use std::sync::OnceLock;

use serde_json::json;

use crate::audit::{self, Event, Origin};
use crate::clock;
use crate::db::{self, models};
use crate::error::ApiError;
use crate::passwords;
use crate::state::AppState;
use crate::throttle;
use crate::tokens::issue;

/// Failed logins allowed per minute from one IP, and for one email.
pub const FAILURES_PER_IP: u32 = 20;
pub const FAILURES_PER_EMAIL: u32 = 10;

pub struct LoggedIn {
    pub access_token: String,
    pub expires_in: u32,
}

/// A hash to verify against when the email is unknown, so the answer takes
/// as long as for a known email.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| passwords::hash("keymint decoy password").unwrap_or_default())
}

pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    origin: Origin,
) -> Result<LoggedIn, ApiError> {
    let email = models::users::normalize_email(email);
    let now = clock::now();
    let now_unix = now.and_utc().timestamp();
    let ip_key = throttle::ip_key("login", origin.client_ip);
    let email_key = format!("login:email:{email}");
    let limits = [
        (&*ip_key, FAILURES_PER_IP),
        (&*email_key, FAILURES_PER_EMAIL),
    ];
    state.failures.begin(&limits, now_unix).await?;

    let lookup = email.clone();
    let (user, memberships) = db::run(&state.pool, move |conn| {
        let user = models::users::find_by_email(conn, &lookup)?;
        let memberships = match &user {
            Some(user) => models::memberships::of_user(conn, &user.id)?,
            None => Vec::new(),
        };
        Ok((user, memberships))
    })
    .await?;
    let record = user.as_ref().and_then(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified = state
        .hashing
        .run(move || match &record {
            Some(record) => passwords::verify(&candidate, record),
            None => passwords::verify(&candidate, decoy_hash()),
        })
        .await?
        && user.as_ref().is_some_and(|u| u.password_hash.is_some());

    let workspace_ids: Vec<Option<String>> = if memberships.is_empty() {
        vec![None]
    } else {
        memberships
            .iter()
            .map(|m| Some(m.workspace_id.clone()))
            .collect()
    };
    let actor = user.as_ref().map(|u| format!("user:{}", u.id));
    let action = if verified {
        "login.succeeded"
    } else {
        "login.failed"
    };
    db::run(&state.pool, move |conn| {
        for workspace_id in &workspace_ids {
            let event = Event {
                workspace_id: workspace_id.as_deref(),
                actor: actor.as_deref(),
                action,
                target: actor.as_deref(),
                detail: json!({ "email": email }),
            };
            audit::write(conn, &origin, event)?;
        }
        Ok(())
    })
    .await?;

    let Some(user) = user.filter(|_| verified) else {
        // Counted when the attempt began.
        return Err(ApiError::InvalidCredentials);
    };
    state
        .failures
        .forgive(&[&ip_key, &email_key], now_unix)
        .await;
    let lifetime = state.config.token_ttl;
    let access_token = issue::login_token(
        &*state.signer()?,
        &state.issuer,
        &user.id,
        &user.email,
        now_unix,
        i64::from(lifetime),
    )?;
    Ok(LoggedIn {
        access_token,
        expires_in: lifetime,
    })
}
