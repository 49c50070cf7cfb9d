//! Bodies and the view of the trust-policy API, parsed into the specs of
//! `federation::policy`. Everything checkable without the database or the
//! caller's rights is checked here.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::fields::{MAX_RATE_LIMIT, Problems, check_name, check_scopes, present};
use crate::clock::rfc3339;
use crate::db::models::trust_policies::TrustPolicy;
use crate::error::ApiError;
use crate::federation::policy::{PolicySpec, PolicyUpdate};
use crate::federation::token::MAX_LIFETIME_SECS;
use crate::verifier::jwks::is_safe_url;

/// At most this many audiences and claim patterns per policy.
const MAX_ENTRIES: usize = 20;
/// URLs, audiences, patterns and claim names: at most this long.
const MAX_TEXT: usize = 1_024;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyBody {
    pub name: String,
    /// The external tokens' `iss`, exactly: HTTPS (or HTTP on loopback).
    pub issuer: String,
    /// Default: the `jwks_uri` of `<issuer>/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    /// The external token's `aud` must hold one of these.
    pub audiences: Vec<String>,
    /// The external `sub`, exactly or as a glob with `*`.
    pub subject: Option<String>,
    /// Claim name (or a JSON pointer such as `/kubernetes.io/namespace`) to
    /// pattern. A policy pins `subject` or at least one claim.
    pub claims: Option<BTreeMap<String, String>>,
    pub scopes: Option<Vec<String>>,
    pub environment: Option<String>,
    pub max_ttl_seconds: Option<i64>,
    pub rate_limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicyBody {
    pub name: Option<String>,
    pub issuer: Option<String>,
    /// Absent: unchanged; `null`: back to discovery.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub jwks_uri: Option<Option<String>>,
    pub audiences: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Option<String>>,
    pub claims: Option<BTreeMap<String, String>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub environment: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_ttl_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit: Option<Option<i64>>,
}

impl CreatePolicyBody {
    pub fn validate(self) -> Result<PolicySpec, ApiError> {
        let mut problems = Problems::default();
        let spec = PolicySpec {
            name: check_name(&self.name, &mut problems),
            issuer: check_url("issuer", &self.issuer, &mut problems),
            jwks_uri: self
                .jwks_uri
                .map(|uri| check_url("jwks_uri", &uri, &mut problems)),
            audiences: check_audiences(self.audiences, &mut problems),
            subject: self
                .subject
                .map(|subject| check_text("subject", subject, &mut problems)),
            claims: check_claims(self.claims.unwrap_or_default(), &mut problems),
            scopes: check_scopes(self.scopes.as_deref().unwrap_or_default(), &mut problems),
            environment: self.environment,
            max_ttl_seconds: self
                .max_ttl_seconds
                .map(|ttl| check_ttl(ttl, &mut problems)),
            rate_limit: self
                .rate_limit
                .map(|limit| check_rate_limit(limit, &mut problems)),
        };
        problems.into_result(spec)
    }
}

impl UpdatePolicyBody {
    pub fn validate(self) -> Result<PolicyUpdate, ApiError> {
        let mut problems = Problems::default();
        let update = PolicyUpdate {
            name: self.name.map(|name| check_name(&name, &mut problems)),
            issuer: self
                .issuer
                .map(|issuer| check_url("issuer", &issuer, &mut problems)),
            jwks_uri: self
                .jwks_uri
                .map(|uri| uri.map(|uri| check_url("jwks_uri", &uri, &mut problems))),
            audiences: self
                .audiences
                .map(|audiences| check_audiences(audiences, &mut problems)),
            subject: self
                .subject
                .map(|subject| subject.map(|s| check_text("subject", s, &mut problems))),
            claims: self
                .claims
                .map(|claims| check_claims(claims, &mut problems)),
            scopes: self
                .scopes
                .map(|scopes| check_scopes(&scopes, &mut problems)),
            environment: self.environment,
            max_ttl_seconds: self
                .max_ttl_seconds
                .map(|ttl| ttl.map(|ttl| check_ttl(ttl, &mut problems))),
            rate_limit: self
                .rate_limit
                .map(|limit| limit.map(|limit| check_rate_limit(limit, &mut problems))),
        };
        problems.into_result(update)
    }
}

fn check_url(field: &str, url: &str, problems: &mut Problems) -> String {
    if url.len() > MAX_TEXT || !is_safe_url(url) || url.contains(['?', '#']) {
        problems.add(
            field,
            "must be an https URL (or http on a loopback host), without query or fragment",
        );
    }
    url.to_owned()
}

fn check_text(field: &str, text: String, problems: &mut Problems) -> String {
    if text.is_empty() || text.len() > MAX_TEXT {
        problems.add(field, "must be 1 to 1,024 bytes");
    }
    text
}

fn check_audiences(audiences: Vec<String>, problems: &mut Problems) -> Vec<String> {
    if audiences.is_empty()
        || audiences.len() > MAX_ENTRIES
        || audiences.iter().any(|a| a.is_empty() || a.len() > MAX_TEXT)
    {
        problems.add(
            "audiences",
            "must list 1 to 20 audiences of 1 to 1,024 bytes",
        );
    }
    audiences
}

fn check_claims(
    claims: BTreeMap<String, String>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let fits = |text: &String| !text.is_empty() && text.len() <= MAX_TEXT;
    if claims.len() > MAX_ENTRIES
        || !claims
            .iter()
            .all(|(name, pattern)| fits(name) && fits(pattern))
    {
        problems.add(
            "claims",
            "must map at most 20 claim names to patterns, each 1 to 1,024 bytes",
        );
    }
    claims
}

fn check_ttl(ttl: i64, problems: &mut Problems) -> i32 {
    if !(1..=MAX_LIFETIME_SECS).contains(&ttl) {
        problems.add("max_ttl_seconds", "must be 1 to 86,400 seconds");
    }
    i32::try_from(ttl).unwrap_or(0)
}

fn check_rate_limit(limit: i64, problems: &mut Problems) -> i32 {
    if !(1..=MAX_RATE_LIMIT).contains(&limit) {
        problems.add("rate_limit", "must be 1 to 100,000 requests per second");
    }
    i32::try_from(limit).unwrap_or(0)
}

/// A trust policy as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub audiences: Vec<String>,
    pub subject: Option<String>,
    pub claims: BTreeMap<String, String>,
    pub scopes: Vec<String>,
    pub environment: Option<String>,
    pub max_ttl_seconds: Option<i32>,
    pub rate_limit: Option<i32>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
}

impl From<TrustPolicy> for PolicyView {
    fn from(policy: TrustPolicy) -> Self {
        Self {
            audiences: policy.audiences(),
            claims: policy.claims(),
            scopes: policy.scopes().iter().map(str::to_owned).collect(),
            id: policy.id,
            workspace_id: policy.workspace_id,
            name: policy.name,
            issuer: policy.issuer,
            jwks_uri: policy.jwks_uri,
            subject: policy.subject,
            environment: policy.environment,
            max_ttl_seconds: policy.max_ttl_seconds,
            rate_limit: policy.rate_limit,
            created_at: policy.created_at,
            created_by: policy.created_by,
        }
    }
}
