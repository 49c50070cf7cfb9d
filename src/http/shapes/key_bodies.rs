//! Bodies of the key API (workspace keys, personal tokens, portal keys),
//! parsed into the specs the key lifecycle takes (`api_keys::spec`).
//! Everything checkable without the database is checked here.

use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::fields::{
    MAX_GRACE_PERIOD_SECS, MAX_NAME_CHARS, MAX_RATE_LIMIT, PARTNER_LABELS, Problems, check_name,
    check_scopes, common_fields, expiry, parse_cidrs, present,
};
use crate::api_keys::KeyKind;
use crate::api_keys::spec::{CommonFields, CreateKeySpec, UpdateKeySpec};
use crate::error::ApiError;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    pub name: String,
    pub kind: String,
    pub scopes: Option<Vec<String>>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub expires_at: Option<String>,
    pub expires_in_days: Option<i64>,
    pub rate_limit: Option<i64>,
    pub allowed_cidrs: Option<Vec<String>>,
    pub remaining: Option<i64>,
    /// Refuse exchanges without a DPoP proof (RFC 9449), so every token
    /// of the key is bound to its holder's key pair.
    #[serde(default)]
    pub dpop_required: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyBody {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Absent: unchanged; `null`: back to the plan's limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit: Option<Option<i64>>,
    pub dpop_required: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyBody {
    pub grace_period_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePersonalBody {
    pub name: String,
    /// Id or slug; needed when the person belongs to several workspaces.
    pub workspace: Option<String>,
    pub expires_at: Option<String>,
    pub expires_in_days: Option<i64>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalKeyBody {
    pub name: String,
    /// 30, 90 or 365; absent or null: never expires.
    pub expires_in_days: Option<i64>,
}

impl CreateKeyBody {
    /// A key of the workspace kinds (personal tokens have their own route).
    pub fn validate(self, now: NaiveDateTime) -> Result<CreateKeySpec, ApiError> {
        let mut problems = Problems::default();
        let name = check_name(&self.name, &mut problems);
        let kind = match KeyKind::parse(&self.kind) {
            Some(KeyKind::Personal) => {
                problems.add(
                    "kind",
                    "personal tokens are created at /api/v1/users/me/api-keys",
                );
                KeyKind::Personal
            }
            Some(kind) => kind,
            None => {
                problems.add("kind", "must be workspace, partner, management or customer");
                KeyKind::Workspace
            }
        };
        let scopes = self
            .scopes
            .as_deref()
            .map(|s| check_scopes(s, &mut problems));
        if kind == KeyKind::Customer
            && scopes
                .as_ref()
                .is_some_and(|s| s.iter().any(crate::access::is_keymint_scope))
        {
            problems.add("scopes", "customer keys cannot hold keymint's own scopes");
        }
        let partner = match (kind, self.partner) {
            (KeyKind::Partner, Some(label)) if PARTNER_LABELS.contains(&label.as_str()) => {
                Some(label)
            }
            (KeyKind::Partner, _) => {
                problems.add("partner", "must be zapier, make, n8n or other");
                None
            }
            (_, Some(_)) => {
                problems.add("partner", "applies to partner keys only");
                None
            }
            (_, None) => None,
        };
        let external_id = match (kind, self.external_id.map(|id| id.trim().to_owned())) {
            (KeyKind::Customer, Some(id))
                if !id.is_empty() && id.chars().count() <= MAX_NAME_CHARS =>
            {
                Some(id)
            }
            (KeyKind::Customer, _) => {
                problems.add(
                    "external_id",
                    "customer keys need the customer's id (1 to 200 characters)",
                );
                None
            }
            (_, Some(_)) => {
                problems.add("external_id", "applies to customer keys only");
                None
            }
            (_, None) => None,
        };
        let expires_at = expiry(
            self.expires_at.as_deref(),
            self.expires_in_days,
            now,
            &mut problems,
        );
        let rate_limit = self.rate_limit.and_then(|limit| {
            if (1..=MAX_RATE_LIMIT).contains(&limit) {
                i32::try_from(limit).ok()
            } else {
                problems.add("rate_limit", "must be from 1 to 100000 requests per second");
                None
            }
        });
        let allowed_cidrs = self
            .allowed_cidrs
            .map(|cidrs| parse_cidrs(&cidrs, &mut problems));
        if self.remaining.is_some_and(|n| n < 1) {
            problems.add("remaining", "must be at least 1");
        }
        let environment = self.environment.map(|e| e.trim().to_owned());
        if environment.as_deref() == Some("") {
            problems.add("environment", "must name an environment of the workspace");
        }
        problems.into_result(CreateKeySpec {
            name,
            kind,
            scopes,
            environment,
            partner,
            external_id,
            expires_at,
            rate_limit,
            allowed_cidrs,
            remaining: self.remaining,
            dpop_required: self.dpop_required,
        })
    }
}

impl UpdateKeyBody {
    /// Whether the scopes only narrow the key's is the lifecycle's to check.
    pub fn validate(self) -> Result<UpdateKeySpec, ApiError> {
        let mut problems = Problems::default();
        let name = self.name.map(|name| check_name(&name, &mut problems));
        let scopes = self
            .scopes
            .map(|scopes| check_scopes(&scopes, &mut problems));
        let rate_limit = self.rate_limit.map(|limit| {
            limit.and_then(|n| {
                if (1..=MAX_RATE_LIMIT).contains(&n) {
                    i32::try_from(n).ok()
                } else {
                    problems.add(
                        "rate_limit",
                        "must be from 1 to 100000 requests per second, or null",
                    );
                    None
                }
            })
        });
        problems.into_result(UpdateKeySpec {
            name,
            scopes,
            rate_limit,
            dpop_required: self.dpop_required,
        })
    }
}

impl RotateKeyBody {
    /// How long the old secret keeps working: `None` for not at all.
    pub fn grace_period(&self) -> Result<Option<Duration>, ApiError> {
        match self.grace_period_seconds {
            None | Some(0) => Ok(None),
            Some(seconds) if (1..=MAX_GRACE_PERIOD_SECS).contains(&seconds) => {
                Ok(Some(Duration::seconds(seconds)))
            }
            Some(_) => Err(ApiError::validation(
                "grace_period_seconds",
                "must be from 0 to 604800 (7 days)",
            )),
        }
    }
}

impl CreatePersonalBody {
    /// The workspace it names (if any) and the token's fields.
    pub fn validate(self, now: NaiveDateTime) -> Result<(Option<String>, CommonFields), ApiError> {
        let fields = common_fields(
            &self.name,
            self.expires_at.as_deref(),
            self.expires_in_days,
            self.scopes.as_deref(),
            now,
        )?;
        Ok((self.workspace, fields))
    }
}

impl PortalKeyBody {
    /// A customer key's name and expiry; it never carries scopes.
    pub fn validate(self, now: NaiveDateTime) -> Result<CommonFields, ApiError> {
        common_fields(&self.name, None, self.expires_in_days, None, now)
    }
}

#[cfg(test)]
mod tests;
