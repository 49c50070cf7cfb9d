//! The federated exchange: a workload's own token, checked against the
//! trust policy it names (`client_id`), for a keymint token of kind
//! `federated`. The policy is read on every exchange, so deleting it stops
//! its exchanges at once on every replica.

use chrono::NaiveDateTime;
use serde_json::json;

use super::rules::{audience, grant_scope, token_lifetime};
use super::{Exchanged, IssuedToken, dpop_proof, ip_throttle, now_unix};
use crate::access::ScopeSet;
use crate::audit::{self, Origin};
use crate::clock;
use crate::db::models::trust_policies::{self, TrustPolicy};
use crate::db::models::workspaces::{self, Plan};
use crate::db::{self};
use crate::error::ApiError;
use crate::federation::token::{self, ExternalToken, LEEWAY_SECS, Refusal, Unverified};
use crate::key_kind::ClientKind;
use crate::ratelimit::Subject;
use crate::state::AppState;
use crate::tokens::claims::{Confirmation, Registered};
use crate::tokens::{AccessClaims, issue};

/// A federated exchange as the client asked for it, in either grant form
/// (RFC 8693 with a JWT `subject_token`, RFC 7523 with an `assertion`).
#[derive(Clone, Default)]
pub struct FederatedRequest {
    /// The trust policy's id (`client_id`).
    pub policy_id: String,
    /// The external JWT: never logged.
    pub token: String,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub expires_in: Option<i64>,
    pub dpop_proof: Option<String>,
    pub origin: Origin,
}

impl std::fmt::Debug for FederatedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedRequest")
            .field("policy_id", &self.policy_id)
            .field("token", &"[redacted]")
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

pub async fn exchange_federated(state: &AppState, request: FederatedRequest) -> Exchanged {
    let now = clock::now();
    let now_unix = now_unix(now);
    let ip_key = match ip_throttle(state, &request.origin, now_unix).await {
        Ok(ip_key) => ip_key,
        Err(throttled) => return throttled,
    };
    let origin = &request.origin;
    let (policy, rate, outcome) = attempt(state, &request, now).await;
    let result = match outcome {
        Ok((issued, subject)) => {
            let detail =
                json!({ "issuer": policy.as_ref().map(|p| &p.issuer), "subject": subject });
            audit_event(
                state,
                policy.as_ref(),
                "federation.exchanged",
                detail,
                origin,
            )
            .await;
            Ok(issued)
        }
        Err(error) => {
            // Every refused token counts: each cost a signature check.
            if !matches!(error, ApiError::Unavailable | ApiError::RateLimited { .. }) {
                state.failures.record_failure(&ip_key, now_unix).await;
            }
            // The subject the refused token claims: unverified, so named so.
            let detail = json!({
                "issuer": policy.as_ref().map(|p| &p.issuer),
                "claimed_subject": token::claimed_subject(&request.token),
                "reason": error.detail(),
            });
            audit_event(state, policy.as_ref(), "federation.refused", detail, origin).await;
            Err(error)
        }
    };
    Exchanged { rate, result }
}

type Attempt = (
    Option<TrustPolicy>,
    Option<crate::ratelimit::RateStatus>,
    Result<(IssuedToken, String), ApiError>,
);

async fn attempt(state: &AppState, request: &FederatedRequest, now: NaiveDateTime) -> Attempt {
    let policy_id = request.policy_id.trim().to_owned();
    let found = db::read(&state.pool, move |conn| {
        let Some(policy) = trust_policies::find(conn, &policy_id)? else {
            return Ok(None);
        };
        let plan = workspaces::find(conn, &policy.workspace_id)?
            .map_or(Plan::Hobby, |w| Plan::from_column(&w.plan));
        Ok(Some((policy, plan)))
    })
    .await;
    let (policy, plan) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return (None, None, Err(ApiError::InvalidClient)),
        Err(error) => return (None, None, Err(error)),
    };
    let vetted = match vet(state, &policy, request, now).await {
        Ok(vetted) => vetted,
        Err(error) => return (Some(policy), None, Err(error)),
    };
    // Counted only for a token that checked out: the policy's id is no
    // secret (it is every federated token's client_id), so counting on it
    // alone would let anyone spend its workloads' rate. Bad tokens count on
    // the sender's IP instead (see `exchange_federated`).
    let limit = policy
        .rate_limit
        .and_then(|limit| u32::try_from(limit).ok())
        .filter(|limit| *limit > 0)
        .unwrap_or_else(|| plan.rate_limit());
    let rate = state.limiter.acquire(Subject::Key(&policy.id), limit).await;
    let issued = match rate.check() {
        Ok(()) => issue_for(state, &policy, request, vetted, now).await,
        Err(error) => Err(error),
    };
    (Some(policy), Some(rate), issued)
}

/// What the request asks for, checked, and the external token it presents.
struct Vetted {
    lifetime: u32,
    audience: String,
    scope: ScopeSet,
    signing_key: std::sync::Arc<crate::signing::SigningKey>,
    external: ExternalToken,
}

/// The checks once the policy is known: what is asked for, then the token.
async fn vet(
    state: &AppState,
    policy: &TrustPolicy,
    request: &FederatedRequest,
    now: NaiveDateTime,
) -> Result<Vetted, ApiError> {
    let lifetime = token_lifetime(state, request.expires_in)?;
    let lifetime = match policy.max_ttl_seconds.and_then(|t| u32::try_from(t).ok()) {
        Some(max) => lifetime.min(max),
        None => lifetime,
    };
    let audience = audience(state, request.audience.as_deref())?;
    let requested = request
        .scope
        .as_deref()
        .map(ScopeSet::parse_space_separated);
    let scope = grant_scope(&policy.scopes(), requested)?;
    let signing_key = state.signer()?;
    let external = checked_token(state, policy, &request.token, now_unix(now)).await?;
    Ok(Vetted {
        lifetime,
        audience,
        scope,
        signing_key,
        external,
    })
}

/// The token's proof and its single use, then the keymint token; the
/// external subject beside it, for the audit log.
async fn issue_for(
    state: &AppState,
    policy: &TrustPolicy,
    request: &FederatedRequest,
    vetted: Vetted,
    now: NaiveDateTime,
) -> Result<(IssuedToken, String), ApiError> {
    let Vetted {
        lifetime,
        audience,
        scope,
        signing_key,
        external,
    } = vetted;
    let proof = dpop_proof(state, false, request.dpop_proof.as_deref(), now)?;
    if let Some(proof) = &proof {
        state
            .dpop
            .take(&state.used_once, proof, now_unix(now))
            .await?;
    }
    // Last: a token refused for any other reason can still be exchanged.
    let until = external.exp.saturating_add(LEEWAY_SECS);
    if !state
        .used_once
        .first_use(external.replay_id.clone(), until)
        .await?
    {
        return Err(refusal(Refusal::Replayed));
    }

    let claims = AccessClaims {
        registered: Registered::issued(
            &state.issuer,
            external.sub.clone(),
            audience,
            now_unix(now),
            i64::from(lifetime),
        ),
        client_id: policy.id.clone(),
        scope: scope.to_space_separated(),
        ws: policy.workspace_id.clone(),
        kind: ClientKind::Federated,
        env: policy.environment.clone(),
        role: None,
        email: None,
        partner: None,
        cidr: None,
        cnf: proof.map(|proof| Confirmation { jkt: proof.jkt }),
        fed_iss: Some(policy.issuer.clone()),
    };
    let bound = claims.cnf.is_some();
    let access_token = issue::sign(&signing_key, &claims)?;
    Ok((
        IssuedToken {
            access_token,
            expires_in: lifetime,
            scope: scope.to_space_separated(),
            key_id: policy.id.clone(),
            bound,
        },
        external.sub,
    ))
}

async fn checked_token(
    state: &AppState,
    policy: &TrustPolicy,
    presented: &str,
    now: i64,
) -> Result<ExternalToken, ApiError> {
    match token::verify(&state.federation, policy, presented.trim(), now).await {
        Ok(external) => Ok(external),
        Err(Unverified::Refused(refused)) => Err(refusal(refused)),
        Err(Unverified::Keys(error)) => {
            log::warn!("federation: keys of {} unavailable: {error}", policy.issuer);
            Err(ApiError::Unavailable)
        }
    }
}

fn refusal(refused: Refusal) -> ApiError {
    ApiError::InvalidRequest(format!("{refused}."))
}

async fn audit_event(
    state: &AppState,
    policy: Option<&TrustPolicy>,
    action: &'static str,
    detail: serde_json::Value,
    origin: &Origin,
) {
    let Some(policy) = policy else { return };
    let (workspace_id, target, origin) = (
        policy.workspace_id.clone(),
        policy.id.clone(),
        origin.clone(),
    );
    let audited = db::run_unfenced(&state.pool, move |conn| {
        let event = audit::Event {
            workspace_id: Some(&workspace_id),
            actor: None,
            action,
            target: Some(&target),
            detail,
        };
        Ok(audit::write(conn, &origin, event)?)
    })
    .await;
    // The answer stands either way, as for exchange.failed.
    if let Err(error) = audited {
        log::warn!("{action} not audited: {}", error.code());
    }
}
