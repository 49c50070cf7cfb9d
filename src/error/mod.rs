//! The error model of the contract in one place: every failure a handler can
//! return, its HTTP status, its `error` code and its one-sentence `detail`.
//!
//! Internal causes are logged here and never serialised: a response carries
//! no SQL, no stack trace and no secret.

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
            ApiError::InvalidRequest(_) | ApiError::InvalidScope => StatusCode::BAD_REQUEST,
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
    pub fn challenge(&self) -> Option<&'static str> {
        if self.status() != StatusCode::UNAUTHORIZED {
            return None;
        }
        Some(if self.innermost().1 {
            "Basic realm=\"keymint\""
        } else {
            "Bearer"
        })
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
mod tests {
    use super::*;

    #[test]
    fn internal_causes_never_reach_the_body() {
        let error = ApiError::internal("SELECT secret FROM api_keys failed");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = error.body();
        assert!(!body.to_string().contains("SELECT"), "{body}");
        assert_eq!(body["error"], "internal_error");
        assert_eq!(
            error.internal_cause(),
            Some("SELECT secret FROM api_keys failed")
        );
    }

    #[test]
    fn unauthorized_answers_carry_a_challenge_and_others_none() {
        assert_eq!(ApiError::InvalidApiKey.challenge(), Some("Bearer"));
        assert_eq!(
            ApiError::InsufficientPermissions(String::new()).challenge(),
            None
        );
    }

    #[test]
    fn rate_limits_and_validation_add_their_fields() {
        let limited = ApiError::RateLimited {
            limit: 10,
            retry_after_secs: 1,
        };
        assert_eq!(limited.retry_after_secs(), Some(1));
        assert_eq!(limited.body()["retryAfter"], 1);
        assert_eq!(ApiError::Unavailable.retry_after_secs(), None);
        let invalid = ApiError::validation("expires_in", "must be positive").body();
        assert_eq!(invalid["errors"][0]["field"], "expires_in");
    }

    #[test]
    fn oauth_forms_get_rfc6749_codes_and_a_description() {
        let basic = ApiError::InvalidApiKey.in_oauth_form("invalid_client", true);
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(basic.challenge(), Some("Basic realm=\"keymint\""));
        let body = basic.body();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_description"], body["detail"]);

        let exchange = ApiError::InvalidApiKey.in_oauth_form("invalid_request", false);
        assert_eq!(exchange.status(), StatusCode::BAD_REQUEST);
        assert_eq!(exchange.challenge(), None);
        let scope = ApiError::InvalidScope.in_oauth_form("invalid_client", false);
        assert_eq!(
            (scope.status(), scope.code()),
            (StatusCode::BAD_REQUEST, "invalid_scope")
        );
        let limited = ApiError::UsageExceeded.in_oauth_form("invalid_client", false);
        assert_eq!(limited.status(), StatusCode::FORBIDDEN);
        let slowed = ApiError::RateLimited {
            limit: 1,
            retry_after_secs: 3,
        }
        .in_oauth_form("invalid_client", false);
        assert_eq!(slowed.retry_after_secs(), Some(3));
    }

    #[test]
    fn pool_and_lost_connections_fail_closed() {
        let lost = diesel::result::Error::BrokenTransactionManager;
        assert_eq!(
            ApiError::from(lost).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(diesel::result::Error::NotFound).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_busy_database_is_503_and_other_database_errors_500() {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        let status = |kind, message: &str| {
            ApiError::from(Error::DatabaseError(kind, Box::new(message.to_owned()))).status()
        };
        let busy = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(
            status(Kind::SerializationFailure, "could not serialize"),
            busy
        );
        assert_eq!(status(Kind::ReadOnlyTransaction, "read-only"), busy);
        assert_eq!(status(Kind::Unknown, "database is locked"), busy);
        assert_eq!(status(Kind::Unknown, "database or disk is full"), busy);
        assert_eq!(
            status(Kind::Unknown, "attempt to write a readonly database"),
            busy
        );
        assert_eq!(
            status(Kind::Unknown, "no such table: keys"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
