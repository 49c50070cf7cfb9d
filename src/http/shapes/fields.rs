//! The fields of key bodies, checked one by one into typed values. Every
//! bad field is collected, so a client sees every problem in one answer
//! (422 `validation_error` with one entry per field).

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::access::ScopeSet;
use crate::api_keys::spec::CommonFields;
use crate::error::{ApiError, FieldError};

pub const EXPIRY_PRESETS_DAYS: [i64; 3] = [30, 90, 365];
pub const PARTNER_LABELS: [&str; 4] = ["zapier", "make", "n8n", "other"];
pub const MAX_GRACE_PERIOD_SECS: i64 = 7 * 24 * 3600;
pub const MAX_RATE_LIMIT: i64 = 100_000;
pub const MAX_NAME_CHARS: usize = 200;
const MAX_SCOPE_CHARS: usize = 128;

/// Tells an explicit `null` (Some(None)) from an absent field (None).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Collects field errors so a client sees every problem in one answer.
#[derive(Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn into_result<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

pub fn check_name(name: &str, problems: &mut Problems) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        problems.add("name", "must be 1 to 200 characters");
    }
    name.to_owned()
}

/// RFC 6749 scope-token: printable ASCII except space, `"` and `\`.
pub fn check_scopes(scopes: &[String], problems: &mut Problems) -> ScopeSet {
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

/// `expires_at` (RFC 3339, in the future) or `expires_in_days` (30, 90 or
/// 365), not both; neither means the key never expires.
pub fn expiry(
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
pub fn parse_cidrs(cidrs: &[String], problems: &mut Problems) -> Vec<IpNet> {
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
