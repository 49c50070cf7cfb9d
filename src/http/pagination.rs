//! Cursor pagination: `?limit=` (1-100, default 50) and `?cursor=`, answered
//! as `{"data": [...], "next_cursor": "..." | null}`. A cursor is the
//! position of the last row served, opaque to clients.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::db::models::api_keys::Position;
use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Kept as text so a non-number is a 422 naming the field, like a
    /// number out of range.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Position>,
}

impl PageQuery {
    pub fn validate(&self) -> Result<PageRequest, ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::validation("limit", "must be a whole number from 1 to 100")
                })?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(decode(cursor).ok_or_else(|| {
                ApiError::validation("cursor", "is not a cursor this service issued")
            })?),
        };
        Ok(PageRequest { limit, after })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says
    /// that another page follows.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        position: impl Fn(&R) -> Position,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|row| encode(&position(row)))
        } else {
            None
        };
        Page {
            data: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

fn encode(position: &Position) -> String {
    let micros = position.created_at.and_utc().timestamp_micros();
    B64.encode(format!("{micros}:{}", position.id))
}

fn decode(cursor: &str) -> Option<Position> {
    let text = String::from_utf8(B64.decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once(':')?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    Some(Position {
        created_at,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = Position {
            created_at: crate::clock::now(),
            id: "k-1".into(),
        };
        assert_eq!(decode(&encode(&position)), Some(position));
        for bad in ["", "!!", "bm9jb2xvbg"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_outside_1_to_100_are_refused() {
        let query = |limit: &str| {
            PageQuery {
                limit: Some(limit.into()),
                cursor: None,
            }
            .validate()
        };
        assert_eq!(query("100").unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(matches!(query(bad), Err(ApiError::Validation(_))), "{bad}");
        }
        assert_eq!(
            PageQuery::default().validate().unwrap().limit,
            DEFAULT_LIMIT
        );
    }

    #[test]
    fn a_full_page_points_past_its_last_row() {
        let rows: Vec<Position> = (0..3)
            .map(|i| Position {
                created_at: crate::clock::now(),
                id: format!("k{i}"),
            })
            .collect();
        let page = Page::from_rows(rows.clone(), 2, Clone::clone, |p| p.id);
        assert_eq!(page.data, vec!["k0", "k1"]);
        assert_eq!(
            decode(page.next_cursor.as_deref().unwrap()).unwrap().id,
            "k1"
        );
        let last = Page::from_rows(rows, 3, Clone::clone, |p| p.id);
        assert_eq!(last.next_cursor, None);
    }
}
