//! `POST /auth/token`: the four request forms of the contract for a secret,
//! all resolved into one [`ExchangeRequest`]:
//! 1. JSON `{"email", "secret", ...}`;
//! 2. `Authorization: Bearer <secret>` or `X-Api-Key`, empty body;
//! 3. OAuth2 `client_credentials` (client_secret_post or client_secret_basic);
//! 4. RFC 8693 token exchange with the secret as `subject_token`;
//!
//! and the two of federation (see [`federated`]), resolved into a
//! [`FederatedRequest`]: RFC 8693 with a workload's JWT as `subject_token`,
//! and RFC 7523's `jwt-bearer` grant.

mod federated;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Instant;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::credentials::{self, Authorization};
use crate::error::ApiError;
use crate::exchange::{self, ExchangeRequest, FederatedRequest, IssuedToken};
use crate::state::AppState;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const API_KEY_TOKEN_TYPE: &str = "urn:keymint:params:oauth:token-type:api-key";
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Which form a request used: it decides how errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Header,
    ClientCredentials {
        basic: bool,
    },
    TokenExchange,
    /// A workload's JWT under a trust policy: by RFC 8693 or RFC 7523.
    Federated {
        token_exchange: bool,
    },
}

impl Form {
    fn report(self, error: ApiError) -> ApiError {
        match self {
            Form::Json | Form::Header => error,
            Form::ClientCredentials { basic } => error.in_oauth_form("invalid_client", basic),
            Form::TokenExchange => error.in_oauth_form("invalid_request", false),
            Form::Federated { .. } => error.in_oauth_form("invalid_client", false),
        }
    }

    /// RFC 8693 answers say what they issued; the others need not.
    fn issued_token_type(self) -> Option<&'static str> {
        matches!(
            self,
            Form::TokenExchange
                | Form::Federated {
                    token_exchange: true
                }
        )
        .then_some(JWT_TOKEN_TYPE)
    }
}

/// What a request asks to exchange.
enum Parsed {
    Secret(ExchangeRequest),
    Federated(FederatedRequest),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

#[utoipa::path(post, path = "/auth/token", tag = "exchange",
    request_body(content(
        (JsonBody = "application/json"),
        (OAuthTokenForm = "application/x-www-form-urlencoded"),
    ), description = "JSON, an OAuth form (client_credentials or RFC 8693), or no body with the secret as Bearer or X-Api-Key"),
    responses((status = 200, description = "A signed access token", body = TokenResponse)),
    security((), ("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn token(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = issue(&request, &body, &state).await;
    let outcome = exchange::outcome(result.as_ref().map(|(issued, _)| issued));
    state.metrics.record_exchange(outcome, started.elapsed());
    let (issued, form) = result?;
    super::observe::note_key_id(&request, &issued.key_id);
    let mut response = HttpResponse::Ok();
    // With nonces on, every answer hands out the current one (RFC 9449 8.2).
    if let Some(nonce) = state.dpop.nonce(chrono::Utc::now().timestamp()) {
        response.insert_header((super::dpop::DPOP_NONCE, nonce));
    }
    Ok(response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .content_type(ContentType::json())
        .json(TokenResponse {
            access_token: issued.access_token,
            token_type: if issued.bound { "DPoP" } else { "Bearer" },
            expires_in: issued.expires_in,
            scope: issued.scope,
            issued_token_type: form.issued_token_type(),
        }))
}

async fn issue(
    request: &HttpRequest,
    body: &[u8],
    state: &web::Data<AppState>,
) -> Result<(IssuedToken, Form), ApiError> {
    let (parsed, form) = parse(request, body)?;
    let origin = super::auth::origin(request, state);
    let dpop_proof = super::dpop::proof_header(request).map_err(|e| form.report(e))?;
    let exchanged = match parsed {
        Parsed::Secret(exchange_request) => {
            let exchange_request = ExchangeRequest {
                origin,
                dpop_proof,
                ..exchange_request
            };
            exchange::exchange(state, exchange_request).await
        }
        Parsed::Federated(federated) => {
            let federated = FederatedRequest {
                origin,
                dpop_proof,
                ..federated
            };
            exchange::exchange_federated(state, federated).await
        }
    };
    // Exchanges count against the presented key: its headers go out too.
    if let Some(rate) = exchanged.rate {
        request.extensions_mut().insert(rate);
    }
    let issued = exchanged.result.map_err(|error| form.report(error))?;
    Ok((issued, form))
}

/// Whether the request parses as one of the exchange's forms, or why it
/// is refused: for the fuzz target, which drives this very parser.
pub fn parse_request(request: &HttpRequest, body: &[u8]) -> Result<(), ApiError> {
    parse(request, body).map(drop)
}

fn parse(request: &HttpRequest, body: &[u8]) -> Result<(Parsed, Form), ApiError> {
    let content_type = request.content_type().to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace)
        && content_type != "application/x-www-form-urlencoded"
    {
        let secret = credentials::bearer_or_api_key(request)?.ok_or(ApiError::Unauthorized)?;
        return Ok((
            Parsed::Secret(ExchangeRequest {
                secret,
                ..Default::default()
            }),
            Form::Header,
        ));
    }
    match content_type.as_str() {
        "application/json" => parse_json(request, body).map(|r| (Parsed::Secret(r), Form::Json)),
        "application/x-www-form-urlencoded" => parse_form(request, body),
        _ => Err(ApiError::UnsupportedMediaType(
            "Send application/json, application/x-www-form-urlencoded, or no body with a Bearer header."
                .to_owned(),
        )),
    }
}

/// The OAuth forms of `/auth/token`, as documented (parsed by [`parse_form`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OAuthTokenForm {
    /// `client_credentials`, `urn:ietf:params:oauth:grant-type:token-exchange`
    /// or `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    grant_type: String,
    /// A key's id, or a trust policy's id (federation).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// The secret (`urn:keymint:params:oauth:token-type:api-key`) or a
    /// workload's JWT (`urn:ietf:params:oauth:token-type:jwt` or `:id_token`).
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    /// RFC 7523: the workload's JWT.
    assertion: Option<String>,
    requested_token_type: Option<String>,
    /// The owner's email, for a personal key.
    email: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
    expires_in: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct JsonBody {
    secret: Option<String>,
    email: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
    expires_in: Option<i64>,
}

fn parse_json(request: &HttpRequest, body: &[u8]) -> Result<ExchangeRequest, ApiError> {
    let body: JsonBody = super::json::parse(body)?;
    let from_header = credentials::bearer_or_api_key(request)?;
    let secret = match (body.secret, from_header) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::InvalidRequest(
                "The body and the Authorization header carry different secrets.".to_owned(),
            ));
        }
        (Some(secret), _) | (None, Some(secret)) => secret,
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "The field secret is required.".to_owned(),
            ));
        }
    };
    Ok(ExchangeRequest {
        secret,
        email: body.email,
        scope: body.scope,
        audience: body.audience,
        expires_in: body.expires_in,
        ..Default::default()
    })
}

/// The parameters of a form body. RFC 6749 3.2: none may repeat. Parsed
/// in time linear in the body's size, however many names it holds.
pub(super) struct FormParams(HashMap<String, String>);

impl FormParams {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| ApiError::InvalidRequest("The form body is malformed.".to_owned()))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            match params.entry(name) {
                Entry::Occupied(repeated) => {
                    return Err(ApiError::InvalidRequest(format!(
                        "The parameter {} is repeated.",
                        repeated.key()
                    )));
                }
                Entry::Vacant(new) => {
                    new.insert(value);
                }
            }
        }
        Ok(Self(params))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 3.1).
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|value| !value.is_empty()).cloned()
    }

    fn require(&self, name: &str) -> Result<String, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::InvalidRequest(format!("The parameter {name} is required.")))
    }

    fn expires_in(&self) -> Result<Option<i64>, ApiError> {
        self.get("expires_in")
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::validation("expires_in", "must be a whole number of seconds")
                })
            })
            .transpose()
    }
}

fn parse_form(request: &HttpRequest, body: &[u8]) -> Result<(Parsed, Form), ApiError> {
    let basic = matches!(
        credentials::authorization(request),
        Ok(Some(Authorization::Basic { .. }))
    );
    // Until the grant is known, report errors as client_credentials would.
    let provisional = Form::ClientCredentials { basic };
    let params = FormParams::parse(body).map_err(|e| provisional.report(e))?;
    let grant = params.get("grant_type").ok_or_else(|| {
        provisional.report(ApiError::InvalidRequest(
            "The parameter grant_type is required.".to_owned(),
        ))
    })?;
    let form = match grant.as_str() {
        GRANT_CLIENT_CREDENTIALS => provisional,
        GRANT_TOKEN_EXCHANGE if federated::is_workload_token(&params) => Form::Federated {
            token_exchange: true,
        },
        GRANT_TOKEN_EXCHANGE => Form::TokenExchange,
        GRANT_JWT_BEARER => Form::Federated {
            token_exchange: false,
        },
        _ => {
            return Err(ApiError::OAuth {
                code: "unsupported_grant_type",
                source: Box::new(ApiError::InvalidRequest(format!(
                    "The grant_type must be {GRANT_CLIENT_CREDENTIALS}, {GRANT_TOKEN_EXCHANGE} or {GRANT_JWT_BEARER}."
                ))),
                basic_challenge: false,
            });
        }
    };
    let parsed = match form {
        Form::TokenExchange => token_exchange(&params).map(Parsed::Secret),
        Form::Federated { token_exchange } => {
            federated::request(request, &params, token_exchange).map(Parsed::Federated)
        }
        _ => client_credentials(request, &params).map(Parsed::Secret),
    };
    parsed
        .map(|r| (r, form))
        .map_err(|error| form.report(error))
}

fn client_credentials(
    request: &HttpRequest,
    params: &FormParams,
) -> Result<ExchangeRequest, ApiError> {
    let (client_id, secret) = match credentials::authorization(request)? {
        Some(Authorization::Basic { user, password }) => {
            if params.get("client_secret").is_some() {
                return Err(ApiError::InvalidRequest(
                    "Use one client authentication method, not Basic and client_secret.".to_owned(),
                ));
            }
            (Some(user), password)
        }
        Some(Authorization::Bearer(_) | Authorization::Dpop(_)) => {
            return Err(ApiError::Unauthorized);
        }
        None => (params.get("client_id"), params.require("client_secret")?),
    };
    Ok(ExchangeRequest {
        secret,
        email: params.get("email"),
        client_id,
        scope: params.get("scope"),
        audience: params.get("audience"),
        expires_in: params.expires_in()?,
        ..Default::default()
    })
}

/// RFC 8693's `requested_token_type`, when sent, must be what keymint issues.
fn check_requested_token_type(params: &FormParams) -> Result<(), ApiError> {
    match params.get("requested_token_type") {
        Some(wanted) if wanted != JWT_TOKEN_TYPE && wanted != ACCESS_TOKEN_TYPE => Err(
            ApiError::InvalidRequest(format!("Only {JWT_TOKEN_TYPE} tokens are issued.")),
        ),
        _ => Ok(()),
    }
}

fn token_exchange(params: &FormParams) -> Result<ExchangeRequest, ApiError> {
    let subject_token = params.require("subject_token")?;
    if params.require("subject_token_type")? != API_KEY_TOKEN_TYPE {
        return Err(ApiError::InvalidRequest(format!(
            "The subject_token_type must be {API_KEY_TOKEN_TYPE}, {JWT_TOKEN_TYPE} or {ID_TOKEN_TYPE}."
        )));
    }
    check_requested_token_type(params)?;
    Ok(ExchangeRequest {
        secret: subject_token,
        email: params.get("email"),
        scope: params.get("scope"),
        audience: params.get("audience"),
        expires_in: params.expires_in()?,
        ..Default::default()
    })
}
