//! Secrets every replica must share (the DPoP nonce key), made once by
//! whichever replica asks first.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::server_secrets;

/// The secret called `name`, made from `candidate` by whichever replica
/// asks first: every replica gets the same value.
pub fn shared_secret(conn: &mut DbConnection, name: &str, candidate: &str) -> QueryResult<String> {
    let existing = |conn: &mut DbConnection| {
        server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first::<String>(conn)
            .optional()
    };
    if let Some(value) = existing(conn)? {
        return Ok(value);
    }
    // Two replicas starting at once both insert: one wins, both read it.
    let inserted = diesel::insert_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::value.eq(candidate),
        ))
        .execute(conn);
    match inserted {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => existing(conn)?.ok_or(diesel::result::Error::NotFound),
        Err(error) => Err(error),
    }
}
