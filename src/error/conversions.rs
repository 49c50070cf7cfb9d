//! How the failures of the layers below become [`ApiError`]s: a lost or
//! busy database is 503 (worth a retry), a duplicate is 409, anything else
//! unexpected is a logged 500 whose cause never reaches the client.

use super::ApiError;

/// SQLite's messages for SQLITE_FULL, SQLITE_READONLY and SQLITE_IOERR.
const SQLITE_CANNOT_WRITE: [&str; 3] = [
    "database or disk is full",
    "attempt to write a readonly database",
    "disk I/O error",
];

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
            // SQLite's file cannot take the write (a full disk, a file or
            // mount made read-only, an I/O error): nothing was written, the
            // transaction rolled back, and the service may recover when the
            // disk does. 503, as for a lost server.
            Error::DatabaseError(_, ref info) if SQLITE_CANNOT_WRITE.contains(&info.message()) => {
                log::error!("database cannot write: {error}");
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
