//! What happened to an exchange, in the operator's words: the `outcome`
//! label of `keymint_token_exchanges_total`.

use super::IssuedToken;
use crate::error::ApiError;

/// Every value [`outcome`] gives (the metrics start each at 0).
pub const OUTCOMES: &[&str] = &[
    "issued",
    "invalid",
    "expired",
    "rate_limited",
    "ip_not_allowed",
    "usage_exceeded",
    "invalid_scope",
    "bad_request",
    "unavailable",
    "error",
];

/// The `outcome` label of an exchange in the metrics: what happened, in
/// the operator's words rather than one label per error code.
pub fn outcome(result: Result<&IssuedToken, &ApiError>) -> &'static str {
    let Err(error) = result else {
        return "issued";
    };
    match error {
        ApiError::OAuth { source, .. } => outcome(Err(source)),
        ApiError::InvalidApiKey | ApiError::InvalidClient | ApiError::Unauthorized => "invalid",
        ApiError::ApiKeyExpired => "expired",
        ApiError::RateLimited { .. } => "rate_limited",
        ApiError::IpNotAllowed => "ip_not_allowed",
        ApiError::UsageExceeded => "usage_exceeded",
        ApiError::InvalidScope => "invalid_scope",
        ApiError::Unavailable | ApiError::NoSigningKey => "unavailable",
        ApiError::Internal(_) => "error",
        _ => "bad_request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_listed() {
        let errors = [
            ApiError::InvalidApiKey,
            ApiError::ApiKeyExpired,
            ApiError::RateLimited {
                limit: 1,
                retry_after_secs: 1,
            },
            ApiError::IpNotAllowed,
            ApiError::UsageExceeded,
            ApiError::InvalidScope,
            ApiError::InvalidRequest("x".to_owned()),
            ApiError::NoSigningKey,
            ApiError::internal("x"),
            ApiError::InvalidClient.in_oauth_form("invalid_client", false),
        ];
        let mut seen: Vec<&str> = errors.iter().map(|e| outcome(Err(e))).collect();
        assert_eq!(seen.pop(), Some("invalid"), "OAuth errors keep their cause");
        seen.push(outcome(Ok(&IssuedToken {
            access_token: String::new(),
            expires_in: 1,
            scope: String::new(),
            key_id: String::new(),
            bound: false,
        })));
        seen.sort_unstable();
        let mut listed = OUTCOMES.to_vec();
        listed.sort_unstable();
        assert_eq!(seen, listed);
    }
}
