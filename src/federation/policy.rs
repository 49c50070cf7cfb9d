//! What a trust policy says, and whether an external token's claims meet
//! it: the subject and each claim pattern, matched exactly or as a glob
//! with `*`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::access::ScopeSet;
use crate::db::models::trust_policies::TrustPolicy;

/// A create request that passed the checks a body can have on its own.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub name: String,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub audiences: Vec<String>,
    pub subject: Option<String>,
    pub claims: BTreeMap<String, String>,
    pub scopes: ScopeSet,
    pub environment: Option<String>,
    pub max_ttl_seconds: Option<i32>,
    pub rate_limit: Option<i32>,
}

/// A validated PATCH: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct PolicyUpdate {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub jwks_uri: Option<Option<String>>,
    pub audiences: Option<Vec<String>>,
    pub subject: Option<Option<String>>,
    pub claims: Option<BTreeMap<String, String>>,
    pub scopes: Option<ScopeSet>,
    pub environment: Option<Option<String>>,
    pub max_ttl_seconds: Option<Option<i32>>,
    pub rate_limit: Option<Option<i32>>,
}

/// Whether `pattern` pins anything: a pattern of only `*` matches every
/// value, which would trust a whole issuer.
pub fn pins_something(pattern: &str) -> bool {
    pattern.chars().any(|c| c != '*')
}

/// `value` matches `pattern`, where `*` stands for any run of characters
/// (none included) and everything else for itself. Linear in practice:
/// the classic two-pointer match, backtracking only to the last `*`.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let (pattern, value): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), value.chars().collect());
    let (mut p, mut v) = (0, 0);
    // The last `*` seen, and where in `value` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if p < pattern.len() && pattern[p] == value[v] {
            p += 1;
            v += 1;
        } else if let Some((star_at, from)) = star {
            // Let that `*` take one more character and retry.
            p = star_at + 1;
            v = from + 1;
            star = Some((star_at, from + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The claim a policy names: a top-level member, or, for a name starting
/// with `/`, a JSON pointer (RFC 6901) into nested claims, such as
/// `/kubernetes.io/namespace`.
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(pointer) = name.strip_prefix('/') {
        let (first, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
        let first = first.replace("~1", "/").replace("~0", "~");
        let top = claims.get(&first)?;
        if rest.is_empty() {
            Some(top)
        } else {
            top.pointer(&format!("/{rest}"))
        }
    } else {
        claims.get(name)
    }
}

/// A claim's value as a pattern sees it: strings as they are, numbers and
/// booleans as JSON writes them; objects, arrays and null match nothing.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// Which condition of a policy a token failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Subject,
    /// The claim's name (a policy's, never the token's value).
    Claim(String),
}

/// Whether a token with subject `sub` and `claims` meets every condition
/// of `policy`.
pub fn check_conditions(
    policy: &TrustPolicy,
    sub: &str,
    claims: &Map<String, Value>,
) -> Result<(), Mismatch> {
    if let Some(pattern) = &policy.subject
        && !glob_matches(pattern, sub)
    {
        return Err(Mismatch::Subject);
    }
    for (name, pattern) in policy.claims() {
        let matched = claim(claims, &name)
            .and_then(as_text)
            .is_some_and(|value| glob_matches(&pattern, &value));
        if !matched {
            return Err(Mismatch::Claim(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_runs_of_anything_and_the_rest_exactly() {
        let yes = [
            (
                "repo:acme/api:ref:refs/heads/main",
                "repo:acme/api:ref:refs/heads/main",
            ),
            (
                "repo:acme/*:ref:refs/heads/main",
                "repo:acme/api:ref:refs/heads/main",
            ),
            ("repo:acme/api:*", "repo:acme/api:environment:prod"),
            ("*:prod", "repo:acme/api:environment:prod"),
            ("a*b*c", "abc"),
            ("a*b*c", "aXXbYYc"),
            ("a**", "a"),
            ("", ""),
        ];
        for (pattern, value) in yes {
            assert!(glob_matches(pattern, value), "{pattern} ~ {value}");
        }
        let no = [
            (
                "repo:acme/api:ref:refs/heads/main",
                "repo:acme/api:ref:refs/heads/main2",
            ),
            (
                "repo:acme/*:ref:refs/heads/main",
                "repo:evil/api:ref:refs/heads/main",
            ),
            ("repo:acme/api:*", "repo:acme/apix:ref:refs/heads/main"),
            ("a*b*c", "aXXbYY"),
            ("", "a"),
            ("abc", "ab"),
        ];
        for (pattern, value) in no {
            assert!(!glob_matches(pattern, value), "{pattern} !~ {value}");
        }
        // Many stars against a long value that almost matches: still quick.
        let long = "a".repeat(5_000);
        assert!(!glob_matches(&format!("{}b", "*a".repeat(100)), &long));
    }

    #[test]
    fn only_stars_pin_nothing() {
        assert!(!pins_something("*"));
        assert!(!pins_something("***"));
        assert!(!pins_something(""));
        assert!(pins_something("repo:*"));
    }

    #[test]
    fn claims_are_named_at_the_top_or_by_a_pointer() {
        let claims = json!({
            "repository": "acme/api",
            "run_attempt": 1,
            "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "deployer"}},
            "a/b": "slash",
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(claim(claims, "repository"), Some(&json!("acme/api")));
        assert_eq!(
            claim(claims, "/kubernetes.io/namespace"),
            Some(&json!("prod"))
        );
        assert_eq!(
            claim(claims, "/kubernetes.io/serviceaccount/name"),
            Some(&json!("deployer"))
        );
        assert_eq!(claim(claims, "/a~1b"), Some(&json!("slash")));
        assert_eq!(claim(claims, "kubernetes.io.namespace"), None);
        assert_eq!(claim(claims, "/missing/x"), None);
        assert_eq!(as_text(&json!(1)), Some("1".to_owned()));
        assert_eq!(as_text(&json!(["a"])), None);
    }
}
