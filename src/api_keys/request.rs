//! Bodies of the key API and their validation. Everything checkable without
//! the database is checked here, and every bad field is reported at once
//! (422 `validation_error` with one entry per field).

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::KeyKind;
use crate::access::ScopeSet;
use crate::error::{ApiError, FieldError};

pub const EXPIRY_PRESETS_DAYS: [i64; 3] = [30, 90, 365];
pub const PARTNER_LABELS: [&str; 4] = ["zapier", "make", "n8n", "other"];
pub const MAX_GRACE_PERIOD_SECS: i64 = 7 * 24 * 3600;
pub const MAX_RATE_LIMIT: i64 = 100_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_SCOPE_CHARS: usize = 128;

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
}

/// A create request that passed validation. `scopes: None` means "the
/// default for the kind", decided with the caller's rights in view.
#[derive(Debug, Clone)]
pub struct CreateKeySpec {
    pub name: String,
    pub kind: KeyKind,
    pub scopes: Option<ScopeSet>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<Vec<IpNet>>,
    pub remaining: Option<i64>,
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
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyBody {
    pub grace_period_seconds: Option<i64>,
}

/// Tells an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Collects field errors so a client sees every problem in one answer.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    fn into_result<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

fn check_name(name: &str, problems: &mut Problems) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        problems.add("name", "must be 1 to 200 characters");
    }
    name.to_owned()
}

/// RFC 6749 scope-token: printable ASCII except space, `"` and `\`.
fn check_scopes(scopes: &[String], problems: &mut Problems) -> ScopeSet {
    let valid = |s: &String| {
        !s.is_empty()
            && s.len() <= MAX_SCOPE_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    };
    if !scopes.iter().all(valid) {
        problems.add(
            "scopes",
            "each scope is 1 to 128 printable characters without spaces, quotes or backslashes",
        );
    }
    ScopeSet::from_iter(scopes.iter().cloned())
}

/// What every kind of key has, checked alike wherever it is created: a
/// name, an expiry, and (where the creator may choose them) scopes.
#[derive(Debug, Clone)]
pub struct CommonFields {
    pub name: String,
    pub expires_at: Option<NaiveDateTime>,
    pub scopes: Option<ScopeSet>,
}

/// Checks the [`CommonFields`] of a new key, every bad field at once.
pub fn common_fields(
    name: &str,
    expires_at: Option<&str>,
    expires_in_days: Option<i64>,
    scopes: Option<&[String]>,
    now: NaiveDateTime,
) -> Result<CommonFields, ApiError> {
    let mut problems = Problems::default();
    let fields = CommonFields {
        name: check_name(name, &mut problems),
        expires_at: expiry(expires_at, expires_in_days, now, &mut problems),
        scopes: scopes.map(|s| check_scopes(s, &mut problems)),
    };
    problems.into_result(fields)
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
        })
    }
}

/// `expires_at` (RFC 3339, in the future) or `expires_in_days` (30, 90 or
/// 365), not both; neither means the key never expires.
fn expiry(
    at: Option<&str>,
    in_days: Option<i64>,
    now: NaiveDateTime,
    problems: &mut Problems,
) -> Option<NaiveDateTime> {
    match (at, in_days) {
        (Some(_), Some(_)) => {
            problems.add("expires_at", "give expires_at or expires_in_days, not both");
            None
        }
        (Some(text), None) => match DateTime::parse_from_rfc3339(text) {
            Ok(time) if time.naive_utc() > now => Some(time.naive_utc().trunc_subsecs(6)),
            Ok(_) => {
                problems.add("expires_at", "must be in the future");
                None
            }
            Err(_) => {
                problems.add(
                    "expires_at",
                    "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
                );
                None
            }
        },
        (None, Some(days)) if EXPIRY_PRESETS_DAYS.contains(&days) => {
            Some(now + Duration::days(days))
        }
        (None, Some(_)) => {
            problems.add("expires_in_days", "must be 30, 90 or 365");
            None
        }
        (None, None) => None,
    }
}

/// CIDRs, or bare addresses meaning that one host. An empty list would lock
/// the key out everywhere, so it is refused.
fn parse_cidrs(cidrs: &[String], problems: &mut Problems) -> Vec<IpNet> {
    let parsed: Option<Vec<IpNet>> = cidrs
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<IpNet>()
                .ok()
                .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .collect();
    match parsed {
        Some(nets) if !nets.is_empty() => nets,
        _ => {
            problems.add(
                "allowed_cidrs",
                "must be a non-empty list of CIDRs such as 203.0.113.0/24",
            );
            Vec::new()
        }
    }
}

/// A validated PATCH: what to change, scopes already checked to narrow.
#[derive(Debug, Default)]
pub struct UpdateKeySpec {
    pub name: Option<String>,
    pub scopes: Option<ScopeSet>,
    pub rate_limit: Option<Option<i32>>,
}

impl UpdateKeyBody {
    /// `current` are the key's scopes now: PATCH may only narrow them.
    pub fn validate(self, current: &ScopeSet) -> Result<UpdateKeySpec, ApiError> {
        let mut problems = Problems::default();
        let name = self.name.map(|name| check_name(&name, &mut problems));
        let scopes = self
            .scopes
            .map(|scopes| check_scopes(&scopes, &mut problems));
        if scopes.as_ref().is_some_and(|s| !s.is_subset_of(current)) {
            problems.add(
                "scopes",
                "can only be narrowed: every scope must be one the key holds",
            );
        }
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

#[cfg(test)]
mod tests;
