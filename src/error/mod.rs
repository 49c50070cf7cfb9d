//! The error model of the contract in one place: every failure a handler can
//! return, its HTTP status, its `error` code and its one-sentence `detail`.
//!
//! Internal causes are logged here and never serialised: a response carries
//! no SQL, no stack trace and no secret.

use std::borrow::Cow;

use http::StatusCode;
use serde::Serialize;

/// One invalid field of a request body (`422 validation_error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Missing or malformed Authorization header.")]
    Unauthorized,
    #[error("Invalid email or password.")]
    InvalidCredentials,
    #[error("The API key is not recognized.")]
    InvalidApiKey,
    #[error("The client_id does not match the presented secret.")]
    InvalidClient,
    #[error("The API key has expired.")]
    ApiKeyExpired,
    #[error("The token is invalid or expired.")]
    InvalidToken,
    #[error("The requested scope exceeds the scopes of the key.")]
    InvalidScope,
    /// The exchange was asked for an audience keymint itself consumes:
    /// 422 naming `audience`, or RFC 8707 `invalid_target` in OAuth forms.
    #[error("The audience is one of keymint's own; ask for your service's audience.")]
    InvalidTarget,
    #[error("The credential belongs to a different workspace.")]
    AccountMismatch,
    #[error("{0}")]
    InsufficientPermissions(String),
    #[error("Requests with this key are not allowed from this address.")]
    IpNotAllowed,
    #[error("The API key has no uses left.")]
    UsageExceeded,
    #[error("This endpoint is served over HTTPS only.")]
    HttpsRequired,
    #[error("{0}")]
    NotFound(String),
    #[error("This route does not accept that method.")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("The request body is larger than {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("The request has invalid fields.")]
    Validation(Vec<FieldError>),
    #[error("Rate limit exceeded.")]
    RateLimited { limit: u32, retry_after_secs: u64 },
    #[error("The service cannot reach its database; try again shortly.")]
    Unavailable,
    #[error("The service has no signing key ready; try again shortly.")]
    NoSigningKey,
    /// A DPoP proof (RFC 9449) failed a check, named in the detail.
    #[error("The DPoP proof was refused: {0}.")]
    InvalidDpopProof(String),
    /// The proof lacks the server's current nonce (RFC 9449 section 8):
    /// the answer hands it out in `DPoP-Nonce`.
    #[error("Send a DPoP proof with the nonce of the DPoP-Nonce header.")]
    UseDpopNonce { nonce: String },
    /// A DPoP failure at a protected resource (keymint's own API): 401
    /// with a `DPoP` challenge naming `code` (RFC 9449 section 7.1).
    #[error("{detail}")]
    DpopResource {
        code: &'static str,
        detail: String,
        nonce: Option<String>,
    },
    /// An error of an OAuth request form, reported with an RFC 6749 `code`
    /// and `error_description` (see [`ApiError::in_oauth_form`]).
    #[error("{source}")]
    OAuth {
        code: &'static str,
        source: Box<ApiError>,
        /// The client authenticated with HTTP Basic: challenge with Basic.
        basic_challenge: bool,
    },
    /// Anything unexpected. The cause is logged, never sent.
    #[error("An internal error occurred.")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("No such {what}."))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The same DPoP failure as a protected resource reports it: 401 with
    /// a `DPoP` challenge instead of the token endpoint's 400.
    pub fn at_resource(self) -> Self {
        match self {
            ApiError::InvalidDpopProof(_) => ApiError::DpopResource {
                code: "invalid_dpop_proof",
                detail: self.to_string(),
                nonce: None,
            },
            ApiError::UseDpopNonce { nonce } => ApiError::DpopResource {
                code: "use_dpop_nonce",
                detail: "Send a DPoP proof with the nonce of the DPoP-Nonce header.".to_owned(),
                nonce: Some(nonce),
            },
            other => other,
        }
    }

    /// A DPoP-bound token presented without a proof of its key.
    pub fn dpop_bound_token() -> Self {
        ApiError::DpopResource {
            code: "invalid_token",
            detail:
                "The token is bound to a DPoP key: present it as DPoP with a proof of that key."
                    .to_owned(),
            nonce: None,
        }
    }

    /// Re-expresses an error for the OAuth forms of `/auth/token`: a bad
    /// credential is `invalid_client` for client_credentials, and a bad
    /// subject token `invalid_request` for token exchange (RFC 8693 2.2.2);
    /// other failures keep their code and gain `error_description`.
    pub fn in_oauth_form(self, bad_credential_code: &'static str, basic_challenge: bool) -> Self {
        let code = match &self {
            ApiError::Unauthorized
            | ApiError::InvalidApiKey
            | ApiError::ApiKeyExpired
            | ApiError::InvalidClient => bad_credential_code,
            ApiError::Validation(_) => "invalid_request",
            ApiError::InvalidTarget => "invalid_target",
            ApiError::OAuth { .. } => return self,
            other => other.code(),
        };
        ApiError::OAuth {
            code,
            source: Box::new(self),
            basic_challenge,
        }
    }

    /// The contract's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::OAuth { code, .. } => code,
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidDpopProof(_) => "invalid_dpop_proof",
            ApiError::UseDpopNonce { .. } => "use_dpop_nonce",
            ApiError::DpopResource { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidApiKey => "invalid_api_key",
            ApiError::InvalidClient => "invalid_client",
            ApiError::ApiKeyExpired => "api_key_expired",
            ApiError::InvalidToken => "invalid_token",
            ApiError::InvalidScope => "invalid_scope",
            ApiError::AccountMismatch => "api_key_account_mismatch",
            ApiError::InsufficientPermissions(_) => "insufficient_permissions",
            ApiError::IpNotAllowed => "ip_not_allowed",
            ApiError::UsageExceeded => "usage_exceeded",
            ApiError::HttpsRequired => "https_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) | ApiError::InvalidTarget => "validation_error",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::Unavailable | ApiError::NoSigningKey => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The text sent as `detail`: the Display text, except for internal
    /// errors, whose cause stays in the log.
    pub fn detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "An internal error occurred.".to_owned(),
            ApiError::OAuth { source, .. } => source.detail(),
            other => other.to_string(),
        }
    }

    /// The JSON body: `{"error", "detail"}` plus what the code adds.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.code(), "detail": self.detail() });
        match self {
            ApiError::Validation(errors) => body["errors"] = serde_json::json!(errors),
            ApiError::InvalidTarget => {
                body["errors"] = serde_json::json!([FieldError::new("audience", self.detail())]);
            }
            ApiError::RateLimited {
                limit,
                retry_after_secs,
            } => {
                body["limit"] = serde_json::json!(limit);
                body["retryAfter"] = serde_json::json!(retry_after_secs);
            }
            ApiError::OAuth { code, source, .. } => {
                body = source.body();
                body["error"] = serde_json::json!(code);
                body["error_description"] = body["detail"].clone();
            }
            _ => {}
        }
        body
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::OAuth { code, source, .. } => match *code {
                "invalid_client" => StatusCode::UNAUTHORIZED,
                "invalid_request"
                | "invalid_grant"
                | "invalid_scope"
                | "invalid_target"
                | "unsupported_grant_type" => StatusCode::BAD_REQUEST,
                _ => source.status(),
            },
            ApiError::InvalidRequest(_)
            | ApiError::InvalidScope
            | ApiError::InvalidDpopProof(_)
            | ApiError::UseDpopNonce { .. } => StatusCode::BAD_REQUEST,
            ApiError::DpopResource { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Unauthorized
            | ApiError::InvalidCredentials
            | ApiError::InvalidApiKey
            | ApiError::InvalidClient
            | ApiError::ApiKeyExpired
            | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::AccountMismatch
            | ApiError::InsufficientPermissions(_)
            | ApiError::IpNotAllowed
            | ApiError::UsageExceeded
            | ApiError::HttpsRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::InvalidTarget => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::NoSigningKey => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error a wrapper (the OAuth forms) stands for, and whether it
    /// challenges with Basic.
    fn innermost(&self) -> (&ApiError, bool) {
        match self {
            ApiError::OAuth {
                source,
                basic_challenge,
                ..
            } => (source, *basic_challenge),
            other => (other, false),
        }
    }

    /// The `WWW-Authenticate` challenge a 401 carries.
    pub fn challenge(&self) -> Option<Cow<'static, str>> {
        if self.status() != StatusCode::UNAUTHORIZED {
            return None;
        }
        Some(match self.innermost() {
            (ApiError::DpopResource { code, .. }, _) => {
                Cow::Owned(format!("DPoP error=\"{code}\""))
            }
            (_, true) => Cow::Borrowed("Basic realm=\"keymint\""),
            _ => Cow::Borrowed("Bearer"),
        })
    }

    /// The nonce a DPoP answer hands out in its `DPoP-Nonce` header.
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self.innermost().0 {
            ApiError::UseDpopNonce { nonce }
            | ApiError::DpopResource {
                nonce: Some(nonce), ..
            } => Some(nonce),
            _ => None,
        }
    }

    /// The `Retry-After` seconds a rate-limited answer carries.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self.innermost().0 {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The cause to log, for an internal error: never sent.
    pub fn internal_cause(&self) -> Option<&str> {
        match self.innermost().0 {
            ApiError::Internal(cause) => Some(cause),
            _ => None,
        }
    }
}

mod conversions;

#[cfg(test)]
mod tests;
