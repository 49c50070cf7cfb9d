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
    /// Bind the session to a key the customer's browser holds (its RFC
    /// 7638 thumbprint, as RFC 9449 section 10's `dpop_jkt`): the portal
    /// API then takes it only as DPoP with a proof of that key.
    pub dpop_jkt: Option<String>,
}

/// A session request that passed validation.
#[derive(Debug)]
pub struct SessionSpec {
    pub external_id: String,
    pub ttl: Duration,
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub token: String,
    pub url: String,
    #[serde(with = "rfc3339")]
    pub expires_at: NaiveDateTime,
}

impl SessionRequest {
    /// The customer id, the session's lifetime (default: `default_ttl`)
    /// and the key it is bound to, if any.
    pub fn validate(&self, default_ttl: u32) -> Result<SessionSpec, ApiError> {
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
        // A SHA-256 thumbprint: 32 bytes, base64url without padding.
        let is_thumbprint = |jkt: &str| {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jkt);
            decoded.is_ok_and(|bytes| bytes.len() == 32)
        };
        if self
            .dpop_jkt
            .as_deref()
            .is_some_and(|jkt| !is_thumbprint(jkt))
        {
            return Err(ApiError::validation(
                "dpop_jkt",
                "must be a key's RFC 7638 SHA-256 thumbprint (43 base64url characters)",
            ));
        }
        Ok(SessionSpec {
            external_id: external_id.to_owned(),
            ttl: Duration::seconds(ttl),
            dpop_jkt: self.dpop_jkt.clone(),
        })
    }
}
