//! One-time invitations: how a person added by email sets a password.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::invitations;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    pub token_digest: Vec<u8>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, invitation: &Invitation) -> QueryResult<()> {
    diesel::insert_into(invitations::table)
        .values(invitation)
        .execute(conn)
        .map(drop)
}

/// Marks the unused, unexpired invitation with this digest as used, and
/// returns it; `None` if there is none. One statement, so a token works once
/// even when presented twice at the same moment.
pub fn redeem(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
) -> QueryResult<Option<Invitation>> {
    let usable = invitations::table
        .filter(invitations::token_digest.eq(digest))
        .filter(invitations::used_at.is_null())
        .filter(invitations::expires_at.gt(now));
    let found: Option<Invitation> = usable
        .select(Invitation::as_select())
        .first(conn)
        .optional()?;
    let Some(invitation) = found else {
        return Ok(None);
    };
    let taken = diesel::update(usable.filter(invitations::id.eq(&invitation.id)))
        .set(invitations::used_at.eq(now))
        .execute(conn)?;
    Ok((taken == 1).then_some(invitation))
}

/// The unused, unexpired invitation with this digest, if any: a read, for
/// checking a presented token before any password is hashed for it.
pub fn find_usable(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
) -> QueryResult<Option<Invitation>> {
    invitations::table
        .filter(invitations::token_digest.eq(digest))
        .filter(invitations::used_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .select(Invitation::as_select())
        .first(conn)
        .optional()
}

/// Voids every unused invitation of a person (once one was redeemed, the
/// others must not set the password again); returns how many.
pub fn void_all_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        invitations::table
            .filter(invitations::user_id.eq(user_id))
            .filter(invitations::used_at.is_null()),
    )
    .set(invitations::used_at.eq(now))
    .execute(conn)
}
