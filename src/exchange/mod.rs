//! Exchanging a secret for a short-lived access token: the rules of
//! `POST /auth/token`, independent of which of its request forms was used.

use serde_json::json;

use chrono::NaiveDateTime;

use crate::access::ScopeSet;
use crate::audit::{self, Origin};
use crate::auth;
use crate::clock;
use crate::db::{self, models};
use crate::dpop::{Expected, VerifiedProof};
use crate::error::ApiError;
use crate::ratelimit::{RateStatus, Subject};
use crate::secrets::Secret;
use crate::state::AppState;
use crate::throttle;
use crate::tokens::claims::Confirmation;
use crate::tokens::issue;

mod federated;
mod outcome;
mod rules;

pub use federated::{FederatedRequest, exchange_federated};

pub use outcome::{OUTCOMES, outcome};
use rules::{audience, check_identity, claims_for, grant_scope, token_lifetime};

/// What the client asked for, whichever form it used.
#[derive(Default, Clone)]
pub struct ExchangeRequest {
    /// As presented: validated here, never logged.
    pub secret: String,
    /// Required for personal keys, ignored for every other kind.
    pub email: Option<String>,
    /// Space-separated; must be a subset of the key's scopes.
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub expires_in: Option<i64>,
    /// With client_credentials: the owner's email, or the key's id.
    pub client_id: Option<String>,
    /// The request's `DPoP` header: a proof binds the token to its key.
    pub dpop_proof: Option<String>,
    pub origin: Origin,
}

/// A signed token and what the response reports about it.
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u32,
    pub scope: String,
    pub key_id: String,
    /// Bound to a DPoP key: its `token_type` is `DPoP`.
    pub bound: bool,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("secret", &"[redacted]")
            .field("email", &self.email)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("expires_in", &self.expires_in)
            .field("client_id", &self.client_id)
            .field("dpop_proof", &self.dpop_proof.as_ref().map(|_| "[present]"))
            .field("origin", &self.origin)
            .finish()
    }
}

/// Failed exchanges allowed per minute from one client IP, and on one key.
/// Past either, every exchange there is 429 until the minute is over, even
/// with the right secret, so secrets cannot be guessed at speed.
pub const FAILURES_PER_IP: u32 = 20;
pub const FAILURES_PER_KEY: u32 = 10;

/// What an exchange gave, and the rate decision on the key it named (for
/// the response's `X-RateLimit-*` headers; `None` when it named no key).
pub struct Exchanged {
    pub rate: Option<RateStatus>,
    pub result: Result<IssuedToken, ApiError>,
}

/// The key a presented secret named, even when the exchange then failed.
struct NamedKey {
    id: String,
    workspace_id: String,
    rate: Option<RateStatus>,
}

pub async fn exchange(state: &AppState, request: ExchangeRequest) -> Exchanged {
    let now = clock::now();
    let now_unix = now.and_utc().timestamp();
    // The key's own count is checked once its secret has named it: a
    // client_id alone names nothing, so whoever read a key id in a JWT
    // cannot lock the key's holder out.
    let ip_key = match ip_throttle(state, &request.origin, now_unix).await {
        Ok(ip_key) => ip_key,
        Err(throttled) => return throttled,
    };
    let origin = request.origin.clone();
    let (named, error) = match attempt(state, request, now).await {
        Err(infrastructure) => (None, infrastructure),
        Ok((named, Ok(issued))) => {
            return Exchanged {
                rate: named.and_then(|n| n.rate),
                result: Ok(issued),
            };
        }
        Ok((named, Err(refused))) => (named, refused),
    };
    let rate = named.as_ref().and_then(|n| n.rate);
    let result = Err(refused(state, named, error, ip_key, origin, now_unix).await);
    Exchanged { rate, result }
}

/// The client IP's failure-throttle key, or the answer to an IP that has
/// failed too often this minute: every form of exchange checks it first.
async fn ip_throttle(
    state: &AppState,
    origin: &Origin,
    now_unix: i64,
) -> Result<String, Exchanged> {
    let ip_key = throttle::ip_key("exchange", origin.client_ip);
    match state
        .failures
        .check(&[(&*ip_key, FAILURES_PER_IP)], now_unix)
        .await
    {
        Ok(()) => Ok(ip_key),
        Err(error) => Err(Exchanged {
            rate: None,
            result: Err(error),
        }),
    }
}

/// Counts a wrong credential towards throttling and audits a refusal on a
/// named key; returns the error to answer with.
async fn refused(
    state: &AppState,
    named: Option<NamedKey>,
    error: ApiError,
    ip_key: String,
    origin: Origin,
    now_unix: i64,
) -> ApiError {
    let status = error.status().as_u16();
    // Only a wrong credential (401) counts towards throttling: that is what
    // guessing looks like. A right secret refused by its limits (403) is not.
    // It counts on a key only when the key's own secret was presented (with
    // a wrong email or client_id).
    if status == 401 {
        state.failures.record_failure(&ip_key, now_unix).await;
        if let Some(named) = &named {
            state
                .failures
                .record_failure(&key_throttle_key(&named.id), now_unix)
                .await;
        }
    }
    if !matches!(status, 401 | 403) {
        return error;
    }
    // Audited when the secret named a key: its workspace sees the attempt.
    if let Some(NamedKey {
        id, workspace_id, ..
    }) = named
    {
        let reason = error.code();
        let audited = db::run(&state.pool, move |conn| {
            let event = audit::Event {
                workspace_id: Some(&workspace_id),
                actor: None,
                action: "exchange.failed",
                target: Some(&id),
                detail: json!({ "reason": reason }),
            };
            Ok(audit::write(conn, &origin, event)?)
        })
        .await;
        // The answer is a refusal either way: a database that cannot take
        // the audit entry must not turn it into a 503 that invites retries.
        if let Err(infrastructure) = audited {
            log::warn!("exchange.failed not audited: {}", infrastructure.code());
        }
    }
    error
}

fn key_throttle_key(key_id: &str) -> String {
    format!("exchange:key:{key_id}")
}

/// One exchange attempt. The outer error is the infrastructure failing;
/// the inner one is the request refused, with the key it named (if any)
/// for throttling, the audit log and the rate headers.
async fn attempt(
    state: &AppState,
    request: ExchangeRequest,
    now: NaiveDateTime,
) -> Result<(Option<NamedKey>, Result<IssuedToken, ApiError>), ApiError> {
    // Offline checks first: a malformed secret costs no database work.
    let Ok(secret) = Secret::parse(request.secret.trim()) else {
        return Ok((None, Err(ApiError::InvalidApiKey)));
    };
    let lifetime = token_lifetime(state, request.expires_in);
    let audience = match audience(state, request.audience.as_deref()) {
        Ok(audience) => audience,
        Err(refused) => return Ok((None, Err(refused))),
    };
    let requested_scope = request
        .scope
        .as_deref()
        .map(ScopeSet::parse_space_separated);
    // Before any database work: with no key to sign, no use is taken.
    let signing_key = state.signer()?;

    let Some(known) = auth::key_by_secret(state, &secret, now).await? else {
        return Ok((None, Err(ApiError::InvalidApiKey)));
    };
    let key = &known.key;
    let mut named = NamedKey {
        id: key.id.clone(),
        workspace_id: key.workspace_id.clone(),
        rate: None,
    };
    let limits = [(&*key_throttle_key(&key.id), FAILURES_PER_KEY)];
    if let Err(error) = state
        .failures
        .check(&limits, now.and_utc().timestamp())
        .await
    {
        return Ok((Some(named), Err(error)));
    }
    // Every exchange presenting the key counts against its rate limit.
    let rate = state
        .limiter
        .acquire(Subject::Key(&key.id), known.rate_limit())
        .await;
    named.rate = Some(rate);
    let checked = rate.check().and_then(|()| {
        let lifetime = lifetime?;
        known.vet(request.origin.client_ip, now)?;
        check_identity(
            &known,
            request.email.as_deref(),
            request.client_id.as_deref(),
        )?;
        let scope = grant_scope(&known.rights(), requested_scope)?;
        Ok((scope, lifetime))
    });
    let (scope, lifetime) = match checked {
        Ok(checked) => checked,
        Err(error) => return Ok((Some(named), Err(error))),
    };
    // Checked once the key is known and may be used, so a secret that
    // names nothing costs no signature check.
    let required = known.key.dpop_required;
    let proof = match dpop_proof(state, required, request.dpop_proof.as_deref(), now) {
        Ok(proof) => proof,
        Err(error) => return Ok((Some(named), Err(error))),
    };
    if let Some(proof) = &proof
        && let Err(error) = state
            .dpop
            .take(&state.used_once, proof, now_unix(now))
            .await
    {
        return Ok((Some(named), Err(error)));
    }
    // Last, so a request refused for any other reason costs no use.
    if key.remaining.is_some() {
        let id = key.id.clone();
        let taken = db::run(&state.pool, move |conn| {
            Ok(models::api_keys::take_one_use(conn, &id)?)
        })
        .await?;
        if !taken {
            return Ok((Some(named), Err(ApiError::UsageExceeded)));
        }
    }

    let mut claims = claims_for(state, &known, audience, &scope, lifetime, now);
    claims.cnf = proof.map(|proof| Confirmation { jkt: proof.jkt });
    let bound = claims.cnf.is_some();
    let access_token = issue::sign(&signing_key, &claims)?;
    state.usage.record(&key.id, now);
    Ok((
        Some(named),
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
            scope: scope.to_space_separated(),
            key_id: key.id.clone(),
            bound,
        }),
    ))
}

/// Where clients send exchanges, as discovery advertises it and as a DPoP
/// proof names it (`htu`).
pub fn token_endpoint(issuer: &str) -> String {
    format!("{}/auth/token", issuer.trim_end_matches('/'))
}

fn now_unix(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp()
}

/// The exchange's DPoP proof, checked, if it has one; a key with
/// `dpop_required` has none without one.
fn dpop_proof(
    state: &AppState,
    required: bool,
    presented: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<VerifiedProof>, ApiError> {
    let Some(proof) = presented else {
        if required {
            return Err(ApiError::InvalidDpopProof(
                "this key is used only with a DPoP proof".to_owned(),
            ));
        }
        return Ok(None);
    };
    let url = token_endpoint(&state.issuer);
    let expected = Expected {
        method: "POST",
        url: &url,
        access_token: None,
        now: now_unix(now),
    };
    state.dpop.verify(proof, &expected).map(Some)
}
