//! What DPoP needs every replica to share: the proofs already used
//! (`dpop_proofs`, PostgreSQL only: one SQLite process remembers them in
//! memory) and the key of the server nonces (`server_secrets`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::DbConnection;
use crate::db::schema::server_secrets;

/// Records a proof as used until `expires_at` (unix seconds): `true` the
/// first time any replica records it, `false` for a replay.
pub fn first_use(conn: &mut DbConnection, id: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = match conn {
        DbConnection::Pg(conn) => diesel::sql_query(
            "INSERT INTO dpop_proofs (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Text, _>(id)
        .bind::<BigInt, _>(expires_at)
        .execute(conn)?,
        DbConnection::Sqlite(conn) => diesel::sql_query(
            "INSERT INTO dpop_proofs (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Text, _>(id)
        .bind::<BigInt, _>(expires_at)
        .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// Forgets proofs that expired before `now`; returns how many.
pub fn forget_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    use crate::db::schema::dpop_proofs::dsl::{dpop_proofs, expires_at};
    diesel::delete(dpop_proofs.filter(expires_at.lt(now))).execute(conn)
}

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
