//! The claims of an exchanged access token (RFC 9068 profile).

use serde::{Deserialize, Serialize};

use crate::key_kind::ClientKind;

/// The registered claims (RFC 7519 section 4.1) every keymint token
/// carries: access tokens, login tokens and portal sessions alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
}

impl Registered {
    /// Claims of a token issued at `issued_at` (unix seconds), valid from
    /// then for `lifetime_secs`, with a fresh `jti`.
    pub fn issued(
        issuer: &str,
        sub: String,
        aud: String,
        issued_at: i64,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub,
            aud,
            exp: issued_at + lifetime_secs,
            iat: issued_at,
            nbf: issued_at,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `iat` as a time; `None` if out of range (a verified token's never is).
    pub fn issued_at(&self) -> Option<chrono::NaiveDateTime> {
        chrono::DateTime::from_timestamp(self.iat, 0).map(|t| t.naive_utc())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// `sub` is the user for personal keys, the customer's `external_id`
    /// for customer keys, else the key itself.
    #[serde(flatten)]
    pub registered: Registered,
    /// The key that was exchanged.
    pub client_id: String,
    /// Space-separated (RFC 8693 section 4.2).
    pub scope: String,
    /// The workspace id.
    pub ws: String,
    pub kind: ClientKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// The key's `allowed_cidrs`, so downstream services can enforce them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Vec<String>>,
    /// The key the token is bound to (DPoP, RFC 9449 section 6): it is
    /// only good with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// A federated token's: the issuer of the external token exchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fed_iss: Option<String>,
}

/// RFC 7800's confirmation claim, with the one member DPoP uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the client's public key.
    pub jkt: String,
}
