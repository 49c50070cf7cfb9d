//! What DPoP needs every replica to share: the proofs already used
//! (`dpop_proofs`, PostgreSQL only: one SQLite process remembers them in
//! memory) and the key of the server nonces (`server_secrets`).

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::db::DbConnection;
use crate::db::schema::server_secrets;

/// Records proofs as used, each `(id, expires_at)` (unix seconds) in one
/// statement on PostgreSQL: for each, in order, `true` the first time any
/// replica records it, `false` for a replay (or an id already earlier in
/// `proofs`).
pub fn first_uses(conn: &mut DbConnection, proofs: &[(String, i64)]) -> QueryResult<Vec<bool>> {
    let mut unique = std::collections::HashSet::with_capacity(proofs.len());
    let (ids, expiries): (Vec<&str>, Vec<i64>) = proofs
        .iter()
        .filter(|(id, _)| unique.insert(id.as_str()))
        .map(|(id, until)| (id.as_str(), *until))
        .unzip();
    let recorded: std::collections::HashSet<String> = match conn {
        DbConnection::Pg(conn) => {
            #[derive(QueryableByName)]
            struct Recorded {
                #[diesel(sql_type = Text)]
                id: String,
            }
            diesel::sql_query(
                "INSERT INTO dpop_proofs (id, expires_at) \
                 SELECT * FROM unnest($1::text[], $2::int8[]) \
                 ON CONFLICT (id) DO NOTHING RETURNING id",
            )
            .bind::<Array<Text>, _>(&ids)
            .bind::<Array<BigInt>, _>(&expiries)
            .load::<Recorded>(conn)?
            .into_iter()
            .map(|r| r.id)
            .collect()
        }
        sqlite @ DbConnection::Sqlite(_) => {
            let mut recorded = std::collections::HashSet::new();
            for (id, until) in ids.iter().zip(&expiries) {
                if first_use(sqlite, id, *until)? {
                    recorded.insert((*id).to_owned());
                }
            }
            recorded
        }
    };
    // The first of two equal ids takes the record; the second is a replay.
    Ok(proofs
        .iter()
        .map(|(id, _)| recorded.contains(id) && unique.remove(id.as_str()))
        .collect())
}

/// Records a proof as used until `expires_at` (unix seconds): `true` the
/// first time any replica records it, `false` for a replay.
fn first_use(conn: &mut DbConnection, id: &str, expires_at: i64) -> QueryResult<bool> {
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
