//! Users: one account per (case-insensitive) email across all workspaces.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub created_at: NaiveDateTime,
}

/// The stored form of an email: trimmed and lower-cased, which makes the
/// column's UNIQUE constraint case-insensitive on both backends.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl User {
    pub fn new(email: &str, password_hash: Option<String>, now: NaiveDateTime) -> Self {
        Self {
            id: super::new_id(),
            email: normalize_email(email),
            password_hash,
            created_at: now,
        }
    }
}

pub fn insert(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(drop)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(normalize_email(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Sets a password only where none is set yet, in one statement; `false`
/// when the account already had one (an invitation never replaces it).
pub fn set_first_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<bool> {
    diesel::update(users::table.find(id).filter(users::password_hash.is_null()))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(|updated| updated == 1)
}

pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(drop)
}
