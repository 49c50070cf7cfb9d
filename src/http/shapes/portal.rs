//! The bodies and answers of portal sessions.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::config::MAX_PORTAL_SESSION_TTL;
use crate::error::ApiError;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub external_id: String,
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub token: String,
    pub url: String,
    #[serde(with = "rfc3339")]
    pub expires_at: NaiveDateTime,
}

impl SessionRequest {
    /// The customer id and the session's lifetime (default: `default_ttl`).
    pub fn validate(&self, default_ttl: u32) -> Result<(String, Duration), ApiError> {
        let external_id = self.external_id.trim();
        if external_id.is_empty() || external_id.chars().count() > 200 {
            return Err(ApiError::validation(
                "external_id",
                "must be 1 to 200 characters",
            ));
        }
        let ttl = match self.ttl_seconds {
            None => i64::from(default_ttl),
            Some(ttl) if (1..=i64::from(MAX_PORTAL_SESSION_TTL)).contains(&ttl) => ttl,
            Some(_) => {
                return Err(ApiError::validation(
                    "ttl_seconds",
                    "must be from 1 to 86400",
                ));
            }
        };
        Ok((external_id.to_owned(), Duration::seconds(ttl)))
    }
}
