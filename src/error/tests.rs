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
    assert_eq!(
        ApiError::InvalidApiKey.challenge().as_deref(),
        Some("Bearer")
    );
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
    assert_eq!(
        basic.challenge().as_deref(),
        Some("Basic realm=\"keymint\"")
    );
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
