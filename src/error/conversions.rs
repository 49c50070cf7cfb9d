//! How the failures of the layers below become [`ApiError`]s: a lost or
//! busy database is 503 (worth a retry), a duplicate is 409, anything else
//! unexpected is a logged 500 whose cause never reaches the client.

use super::ApiError;

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => ApiError::NotFound("Not found.".to_owned()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict("It already exists.".to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | Error::BrokenTransactionManager => {
                log::warn!("database connection lost: {error}");
                ApiError::Unavailable
            }
            // The database is there but cannot take this now: a conflict
            // with a concurrent transaction, a read-only server (PostgreSQL
            // mid-failover), SQLite still locked after its busy timeout.
            // Worth a retry, so 503 rather than 500.
            Error::DatabaseError(
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ReadOnlyTransaction,
                _,
            ) => {
                log::warn!("database busy: {error}");
                ApiError::Unavailable
            }
            Error::DatabaseError(_, ref info) if info.message() == "database is locked" => {
                log::warn!("database busy: {error}");
                ApiError::Unavailable
            }
            other => ApiError::internal(format!("database: {other}")),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(error: r2d2::Error) -> Self {
        log::warn!("no database connection: {error}");
        ApiError::Unavailable
    }
}
