//! Roles and scopes: keymint's own vocabulary of rights.
//!
//! Scopes carry every right; a role is a named bundle of scopes. Free-form
//! scopes for downstream services live beside these in a key's scope list.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const KEYS_READ: &str = "keys:read";
pub const KEYS_WRITE: &str = "keys:write";
pub const MEMBERS_READ: &str = "members:read";
pub const MEMBERS_WRITE: &str = "members:write";
pub const ENVIRONMENTS_WRITE: &str = "environments:write";
pub const PORTAL_WRITE: &str = "portal:write";
pub const AUDIT_READ: &str = "audit:read";
pub const TOKENS_INTROSPECT: &str = "tokens:introspect";
pub const TOKENS_SELF: &str = "tokens:self";
pub const WORKSPACE_WRITE: &str = "workspace:write";
pub const WORKSPACE_OWNER: &str = "workspace:owner";

const VIEWER: &[&str] = &[KEYS_READ, MEMBERS_READ];
const MEMBER: &[&str] = &[TOKENS_SELF];
const ADMIN: &[&str] = &[
    KEYS_WRITE,
    MEMBERS_WRITE,
    ENVIRONMENTS_WRITE,
    PORTAL_WRITE,
    AUDIT_READ,
    TOKENS_INTROSPECT,
    WORKSPACE_WRITE,
];
const OWNER: &[&str] = &[WORKSPACE_OWNER];

/// A member's role in a workspace, weakest first so `Ord` ranks them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Role::Viewer, Role::Member, Role::Admin, Role::Owner]
            .into_iter()
            .find(|role| role.as_str() == text)
    }

    /// The scopes this role grants: each role adds to the one below it.
    pub fn scopes(self) -> ScopeSet {
        let tiers: &[&[&str]] = match self {
            Role::Viewer => &[VIEWER],
            Role::Member => &[VIEWER, MEMBER],
            Role::Admin => &[VIEWER, MEMBER, ADMIN],
            Role::Owner => &[VIEWER, MEMBER, ADMIN, OWNER],
        };
        ScopeSet::from_iter(tiers.iter().flat_map(|tier| tier.iter().copied()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every scope keymint itself understands (what the bootstrap key holds).
pub fn all_keymint_scopes() -> ScopeSet {
    Role::Owner.scopes()
}

/// Whether a scope is one of keymint's own (as opposed to a free-form scope
/// meant for downstream services).
pub fn is_keymint_scope(scope: &str) -> bool {
    all_keymint_scopes().contains(scope)
}

/// An ordered, duplicate-free list of scopes. Order is kept so the `scope`
/// claim reads the way the key was configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses the OAuth form: scopes separated by spaces.
    pub fn parse_space_separated(text: &str) -> Self {
        Self::from_iter(text.split_ascii_whitespace())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|held| held == scope)
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|scope| other.contains(scope))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes held by both sets, in this set's order.
    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        Self(
            self.0
                .iter()
                .filter(|s| other.contains(s))
                .cloned()
                .collect(),
        )
    }

    /// The space-separated form used by the `scope` claim and column.
    pub fn to_space_separated(&self) -> String {
        self.0.join(" ")
    }
}

impl<S: Into<String>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut scopes: Vec<String> = Vec::new();
        for scope in iter {
            let scope = scope.into();
            if !scope.is_empty() && !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Self(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_and_each_adds_to_the_one_below() {
        assert!(
            Role::Owner > Role::Admin && Role::Admin > Role::Member && Role::Member > Role::Viewer
        );
        let ranked = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];
        for pair in ranked.windows(2) {
            assert!(pair[0].scopes().is_subset_of(&pair[1].scopes()));
            assert_ne!(pair[0].scopes(), pair[1].scopes());
        }
        assert_eq!(
            Role::Viewer.scopes().to_space_separated(),
            "keys:read members:read"
        );
        assert!(Role::Owner.scopes().contains(WORKSPACE_OWNER));
        assert!(!Role::Admin.scopes().contains(WORKSPACE_OWNER));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn scope_sets_dedupe_and_compare() {
        let held = ScopeSet::parse_space_separated("read:a  write:b read:a");
        assert_eq!(held.to_space_separated(), "read:a write:b");
        assert!(ScopeSet::parse_space_separated("write:b").is_subset_of(&held));
        assert!(!ScopeSet::parse_space_separated("admin").is_subset_of(&held));
        assert!(ScopeSet::default().is_subset_of(&held));
        assert!(is_keymint_scope(KEYS_WRITE) && !is_keymint_scope("read:a"));
    }
}
