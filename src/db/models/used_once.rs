//! What every replica accepts once (`used_once`): ids of DPoP proofs and
//! federated tokens, each kept until it could no longer be replayed.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::db::DbConnection;

/// Records uses, each `(id, expires_at)` (unix seconds) in one
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
                "INSERT INTO used_once (id, expires_at) \
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

/// Records one use until `expires_at` (unix seconds): `true` the
/// first time any replica records it, `false` for a replay.
fn first_use(conn: &mut DbConnection, id: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = match conn {
        DbConnection::Pg(conn) => diesel::sql_query(
            "INSERT INTO used_once (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Text, _>(id)
        .bind::<BigInt, _>(expires_at)
        .execute(conn)?,
        DbConnection::Sqlite(conn) => diesel::sql_query(
            "INSERT INTO used_once (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Text, _>(id)
        .bind::<BigInt, _>(expires_at)
        .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// Forgets uses that expired before `now`; returns how many.
pub fn forget_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    use crate::db::schema::used_once::dsl::{expires_at, used_once};
    diesel::delete(used_once.filter(expires_at.lt(now))).execute(conn)
}
