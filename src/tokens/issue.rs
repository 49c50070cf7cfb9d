//! Issuing keymint's tokens: the one place that signs them. The `typ`
//! header comes from the claims type (see [`super::kind`]), so no caller
//! can sign one kind of token as another.

use super::claims::Registered;
use super::kind::TokenKind;
use super::login::LoginClaims;
use super::portal::PortalClaims;
use super::verify::TokenClaims;
use crate::signing::{KeyError, SigningKey};

/// Signs `claims` as a token of their kind.
pub fn sign<C: TokenClaims>(key: &SigningKey, claims: &C) -> Result<String, KeyError> {
    key.sign_jwt(C::KIND.typ(), claims)
}

/// A person's login token for the management API, valid `lifetime_secs`
/// from `now_unix`.
pub fn login_token(
    key: &SigningKey,
    issuer: &str,
    user_id: &str,
    email: &str,
    now_unix: i64,
    lifetime_secs: i64,
) -> Result<String, KeyError> {
    let claims = LoginClaims {
        registered: fixed_audience_claims(
            TokenKind::Login,
            issuer,
            user_id,
            now_unix,
            lifetime_secs,
        ),
        email: email.to_owned(),
    };
    sign(key, &claims)
}

/// A portal session for one customer (`external_id`) of one workspace,
/// bound to the key `dpop_jkt` names if one is given.
pub fn portal_session(
    key: &SigningKey,
    issuer: &str,
    workspace_id: &str,
    external_id: &str,
    now_unix: i64,
    lifetime_secs: i64,
    dpop_jkt: Option<String>,
) -> Result<String, KeyError> {
    let claims = PortalClaims {
        registered: fixed_audience_claims(
            TokenKind::Portal,
            issuer,
            external_id,
            now_unix,
            lifetime_secs,
        ),
        ws: workspace_id.to_owned(),
        cnf: dpop_jkt.map(|jkt| super::claims::Confirmation { jkt }),
    };
    sign(key, &claims)
}

/// The registered claims of a kind whose audience keymint fixes.
fn fixed_audience_claims(
    kind: TokenKind,
    issuer: &str,
    sub: &str,
    now_unix: i64,
    lifetime_secs: i64,
) -> Registered {
    let audience = kind
        .fixed_audience(issuer)
        .expect("logins and portal sessions have a fixed audience");
    Registered::issued(issuer, sub.to_owned(), audience, now_unix, lifetime_secs)
}
