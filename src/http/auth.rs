//! The [`Caller`] extractor: authenticates `Authorization: Bearer` (a
//! secret, an exchanged JWT or a login JWT) or `X-Api-Key`, so handlers
//! receive the caller as an argument and never read credential headers.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Deserialize;

use super::client::client_ip;
use super::credentials;
use super::rate_limit;
use crate::access::ScopeSet;
use crate::api_keys;
use crate::audit::Origin;
use crate::authz::{Caller, Principal};
use crate::clock;
use crate::db;
use crate::db::models::{memberships, users, workspaces::Plan};
use crate::error::ApiError;
use crate::ratelimit::Subject;
use crate::secrets::Secret;
use crate::state::AppState;
use crate::tokens::claims::Registered;
use crate::tokens::login::login_audience;
use crate::tokens::verify::{Audiences, RegisteredClaims};

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { authenticate(&request).await })
    }
}

/// What the management API needs from either kind of keymint JWT.
#[derive(Deserialize)]
struct PresentedClaims {
    #[serde(flatten)]
    registered: Registered,
    client_id: Option<String>,
    scope: Option<String>,
}

impl RegisteredClaims for PresentedClaims {
    fn registered(&self) -> &Registered {
        &self.registered
    }
}

/// Where the request came from: for the audit log and CIDR checks.
pub fn origin(request: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        client_ip: client_ip(request, &state.config.trusted_proxies),
        user_agent: request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}

async fn authenticate(request: &HttpRequest) -> Result<Caller, ApiError> {
    let credential = credentials::bearer_or_api_key(request)?.ok_or(ApiError::Unauthorized)?;
    authenticate_credential(request, credential).await
}

/// Authenticates a credential however it arrived (Bearer, X-Api-Key, or
/// the password of HTTP Basic for the OAuth endpoints).
pub async fn authenticate_credential(
    request: &HttpRequest,
    credential: String,
) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState missing"))?;
    let origin = origin(request, &state);
    let client_ip = origin.client_ip;
    let now = clock::now();

    let (principal, token_scopes) = if looks_like_jwt(&credential) {
        let login = login_audience(&state.issuer);
        let audiences = Audiences::OneOf(vec![state.issuer.clone(), login.clone()]);
        let claims: PresentedClaims =
            state
                .own_keys
                .verify(&state.signing, &credential, &state.issuer, audiences)?;
        if claims.registered.aud == login {
            let (user, plan) = db::run(&state.pool, move |conn| {
                let user = users::find(conn, &claims.registered.sub)?;
                let plan = match &user {
                    Some(user) => memberships::best_plan_of_user(conn, &user.id)?,
                    None => None,
                };
                Ok((user, plan))
            })
            .await?;
            let user = user.ok_or(ApiError::InvalidToken)?;
            // A person acts in all their workspaces: the best plan applies.
            let limit = plan.unwrap_or(Plan::Hobby).rate_limit();
            let status = state.limiter.acquire(Subject::User(&user.id), limit);
            rate_limit::record(request, status)?;
            (Principal::User(user), None)
        } else {
            let key_id = claims.client_id.ok_or(ApiError::InvalidToken)?;
            let issued_at = claims
                .registered
                .issued_at()
                .ok_or(ApiError::InvalidToken)?;
            let key = db::run(&state.pool, move |conn| {
                api_keys::authenticate_by_id(conn, &key_id, issued_at, client_ip, now)
            })
            .await?;
            // Tokens draw from the bucket of the key they were exchanged from.
            let status = state
                .limiter
                .acquire(Subject::Key(&key.key.id), key.rate_limit());
            rate_limit::record(request, status)?;
            let scopes =
                ScopeSet::parse_space_separated(claims.scope.as_deref().unwrap_or_default());
            (Principal::Key(Box::new(key)), Some(scopes))
        }
    } else {
        let secret = Secret::parse(&credential).map_err(|_| ApiError::InvalidApiKey)?;
        let key = db::run(&state.pool, move |conn| {
            api_keys::authenticate(conn, &secret, client_ip, now)
        })
        .await?;
        let status = state
            .limiter
            .acquire(Subject::Key(&key.key.id), key.rate_limit());
        rate_limit::record(request, status)?;
        // A secret used directly counts as a use of the key.
        state.usage.record(&key.key.id, now);
        (Principal::Key(Box::new(key)), None)
    };
    if let Principal::Key(key) = &principal {
        super::observe::note_key_id(request, &key.key.id);
    }
    Ok(Caller {
        principal,
        token_scopes,
        origin,
    })
}

/// Three base64url segments: the compact JWS form. Secrets never contain dots.
fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
}
