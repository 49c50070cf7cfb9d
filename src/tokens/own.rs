//! keymint checking its own tokens when they come back as credentials (the
//! management API) or for introspection: [`verify::verify_as`] against the
//! keys keymint publishes, read from its key store once per change of the
//! published set.

use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::claims::AccessClaims;
use super::kind::TokenKind;
use super::login::LoginClaims;
use super::portal::PortalClaims;
use super::verify::{self, Audiences, Expectations, KeySet, TokenClaims};
use crate::error::ApiError;
use crate::signing::SigningKeys;

/// The published keys as a [`KeySet`], rebuilt only when the set of
/// published keys changes, not on every request.
#[derive(Default)]
pub struct OwnKeys {
    /// The kids the cached set was built from, in the store's order.
    cached: Mutex<Option<(Vec<String>, Arc<KeySet>)>>,
}

impl OwnKeys {
    fn key_set(&self, signing: &SigningKeys) -> Arc<KeySet> {
        let published = signing.published(Utc::now());
        // A kid is its key's thumbprint: the same kids are the same keys.
        let kids = || published.iter().map(|key| key.kid());
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached_kids, keys)) = &*cached
            && cached_kids.iter().map(String::as_str).eq(kids())
        {
            return keys.clone();
        }
        let keys = Arc::new(KeySet::from_members(published.iter().map(|key| key.jwk())));
        *cached = Some((kids().map(str::to_owned).collect(), keys.clone()));
        keys
    }

    /// Verifies a token keymint issued; any failure is 401 `invalid_token`
    /// (why is not the client's business, and telling it helps forgers).
    pub fn verify<C: TokenClaims>(
        &self,
        signing: &SigningKeys,
        token: &str,
        issuer: &str,
        audience: Audiences,
    ) -> Result<C, ApiError> {
        let expected = Expectations {
            audience,
            ..Expectations::new(issuer, issuer)
        };
        verify::verify_as(
            token,
            &self.key_set(signing),
            &expected,
            Utc::now().timestamp(),
        )
        .map_err(|_| ApiError::InvalidToken)
    }
}

/// A verified keymint token, of the kind its signed `typ` header names.
pub enum OwnToken {
    Access(AccessClaims),
    Login(LoginClaims),
    Portal(PortalClaims),
}

impl OwnKeys {
    /// Verifies a token of whichever kind it is: an access token against
    /// `access_audience`, a login token or a portal session against the
    /// audience keymint gives that kind. The caller decides which kinds it
    /// accepts by matching on the answer.
    pub fn verify_any(
        &self,
        signing: &SigningKeys,
        token: &str,
        issuer: &str,
        access_audience: Audiences,
    ) -> Result<OwnToken, ApiError> {
        let kind = verify::claimed_kind(token).ok_or(ApiError::InvalidToken)?;
        let fixed = || Audiences::OneOf(kind.fixed_audience(issuer).into_iter().collect());
        Ok(match kind {
            TokenKind::Access => {
                OwnToken::Access(self.verify(signing, token, issuer, access_audience)?)
            }
            TokenKind::Login => OwnToken::Login(self.verify(signing, token, issuer, fixed())?),
            TokenKind::Portal => OwnToken::Portal(self.verify(signing, token, issuer, fixed())?),
        })
    }
}
