//! Authentication: the one place that turns a credential presented to the
//! management API (a secret, an access token, a login token) into the
//! principal behind it, with the checks every use of it passes.
//!
//! What a token is comes from its signed `typ` (see [`crate::tokens::kind`]),
//! never from a claim the client could have chosen: an access token always
//! stands for the key it was exchanged from (`client_id`), whatever its
//! `sub`, `email` or audience say; only a login token stands for a person;
//! a portal session is refused here (the portal's own API takes it).

use std::net::IpAddr;
use std::sync::Arc;

use chrono::NaiveDateTime;

pub mod cache;
pub mod key;

pub use key::{KeyOwner, KnownKey, Principal, authenticate_by_id};

use crate::access::ScopeSet;
use crate::clock;
use crate::db::{self, models::memberships, models::users, models::workspaces::Plan};
use crate::dpop::{Expected, PresentedProof, VerifiedProof};
use crate::error::ApiError;
use crate::ratelimit::{RateStatus, Subject};
use crate::secrets::Secret;
use crate::state::AppState;
use crate::tokens::claims::Confirmation;
use crate::tokens::own::OwnToken;
use crate::tokens::verify::Audiences;

/// A credential that checked out: who is behind it, the scopes of the
/// presented token (`None` for a secret), and the rate decision on its
/// bucket, which the caller records and enforces.
pub struct Authenticated {
    pub principal: Principal,
    pub token_scopes: Option<ScopeSet>,
    pub rate: RateStatus,
}

/// Authenticates a credential presented to the management API; `proof`
/// is there when it came as `Authorization: DPoP`.
pub async fn authenticate(
    state: &AppState,
    credential: &str,
    proof: Option<&PresentedProof>,
    client_ip: Option<IpAddr>,
) -> Result<Authenticated, ApiError> {
    let now = clock::now();
    let authenticated = authenticate_checked(state, credential, proof, client_ip, now).await?;
    // Only once the credential checked out, so that nobody without one can
    // fill the memory of used proofs.
    if let Some(proof) = &authenticated.proof {
        let now = now.and_utc().timestamp();
        (state.dpop.take(&state.used_once, proof, now).await).map_err(ApiError::at_resource)?;
    }
    Ok(authenticated.authenticated)
}

/// A credential that checked out, with the DPoP proof still to be taken.
struct Checked {
    authenticated: Authenticated,
    proof: Option<VerifiedProof>,
}

async fn authenticate_checked(
    state: &AppState,
    credential: &str,
    proof: Option<&PresentedProof>,
    client_ip: Option<IpAddr>,
    now: NaiveDateTime,
) -> Result<Checked, ApiError> {
    if !looks_like_jwt(credential) {
        // A secret is no bound token: DPoP is for tokens.
        check_binding(state, None, proof, credential, now)?;
        let secret = Secret::parse(credential).map_err(|_| ApiError::InvalidApiKey)?;
        let key = key_by_secret(state, &secret, now)
            .await?
            .ok_or(ApiError::InvalidApiKey)?;
        key.vet(client_ip, now)?;
        let rate = state
            .limiter
            .acquire(Subject::Key(&key.key.id), key.rate_limit())
            .await;
        // A secret used directly counts as a use of the key.
        state.usage.record(&key.key.id, now);
        return Ok(Checked {
            authenticated: Authenticated {
                principal: Principal::Key(key),
                token_scopes: None,
                rate,
            },
            proof: None,
        });
    }
    // Access tokens presented back to keymint must be meant for keymint.
    let access_audience = Audiences::OneOf(vec![state.issuer.clone()]);
    let token =
        state
            .own_keys
            .verify_any(&state.signing, credential, &state.issuer, access_audience)?;
    match token {
        OwnToken::Access(claims) => {
            let verified = check_binding(state, claims.cnf.as_ref(), proof, credential, now)?;
            let issued_at = claims
                .registered
                .issued_at()
                .ok_or(ApiError::InvalidToken)?;
            // A federated token stands for a trust policy, not a key: it is
            // for downstream services, and keymint's own API does not take
            // it. A key's token acts only as a key of the kind it names.
            let kind = claims.kind.key().ok_or(ApiError::InvalidToken)?;
            let key_id = claims.client_id;
            let key = db::read(&state.pool, move |conn| {
                authenticate_by_id(conn, &key_id, issued_at, client_ip, now)
            })
            .await?;
            if key.key.kind() != kind {
                return Err(ApiError::InvalidToken);
            }
            // Tokens draw from the bucket of the key they were exchanged from.
            let rate = state
                .limiter
                .acquire(Subject::Key(&key.key.id), key.rate_limit())
                .await;
            Ok(Checked {
                authenticated: Authenticated {
                    principal: Principal::Key(Arc::new(key)),
                    token_scopes: Some(ScopeSet::parse_space_separated(&claims.scope)),
                    rate,
                },
                proof: verified,
            })
        }
        OwnToken::Login(claims) => {
            check_binding(state, None, proof, credential, now)?;
            let user_id = claims.registered.sub;
            let (user, plan) = db::read(&state.pool, move |conn| {
                let Some(user) = users::find(conn, &user_id)? else {
                    return Ok((None, None));
                };
                let plan = memberships::best_plan_of_user(conn, &user.id)?;
                Ok((Some(user), plan))
            })
            .await?;
            let user = user.ok_or(ApiError::InvalidToken)?;
            // A person acts in all their workspaces: the best plan applies.
            let limit = plan.unwrap_or(Plan::Hobby).rate_limit();
            let rate = state.limiter.acquire(Subject::User(&user.id), limit).await;
            Ok(Checked {
                authenticated: Authenticated {
                    principal: Principal::User(user),
                    token_scopes: None,
                    rate,
                },
                proof: None,
            })
        }
        // A portal session is the portal's, and nothing else's.
        OwnToken::Portal(_) => Err(ApiError::InvalidToken),
    }
}

/// Whether a credential came as its binding asks (RFC 9449 section 7.1):
/// a token bound to a key (`cnf`) only with a proof of that key for this
/// request and this token; anything unbound only as Bearer. Returns the
/// checked proof, still to be taken (see [`crate::dpop::DpopGuard::take`]).
pub fn check_binding(
    state: &AppState,
    cnf: Option<&Confirmation>,
    presented: Option<&PresentedProof>,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<VerifiedProof>, ApiError> {
    match (cnf, presented) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::dpop_bound_token()),
        (None, Some(_)) => Err(ApiError::DpopResource {
            code: "invalid_token",
            detail: "The credential is not bound to a DPoP key: present it as Bearer.".to_owned(),
            nonce: None,
        }),
        (Some(cnf), Some(presented)) => {
            let expected = Expected {
                method: &presented.method,
                url: &presented.url,
                access_token: Some(token),
                now: now.and_utc().timestamp(),
            };
            let proof = state
                .dpop
                .verify(&presented.proof, &expected)
                .map_err(ApiError::at_resource)?;
            if proof.jkt != cnf.jkt {
                return Err(ApiError::dpop_bound_token());
            }
            Ok(Some(proof))
        }
    }
}

/// The key a secret names, from the key cache or else the database (and
/// then kept in the cache): the one lookup of a presented secret, for the
/// exchange and the management API alike. It decides nothing: the caller
/// vets the key for its use.
pub async fn key_by_secret(
    state: &AppState,
    secret: &Secret,
    now: NaiveDateTime,
) -> Result<Option<Arc<KnownKey>>, ApiError> {
    let digest = secret.digest();
    let cached = state.keys.get(&digest, now);
    state.metrics.record_key_lookup(cached.is_some());
    if cached.is_some() {
        return Ok(cached);
    }
    let generation = state.keys.generation();
    // A lookup writes nothing: read-only, with no fence to pay for.
    let found = db::read(&state.pool, {
        let digest = digest.clone();
        move |conn| KnownKey::find(conn, &digest, now)
    })
    .await?;
    Ok(found.map(|known| state.keys.insert(&digest, generation, known)))
}

/// Three base64url segments: the compact JWS form. Secrets never contain dots.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
}
