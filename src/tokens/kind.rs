//! The three kinds of token keymint issues, and what tells them apart.
//!
//! Every kind is signed by the same keys, so the signature cannot tell an
//! access token from a login token. The JOSE `typ` header does (RFC 8725
//! section 3.11, explicit typing): keymint sets it when it signs, from the
//! claims type being signed, and no request can choose it. The audience
//! cannot be trusted for this: a client picks it at the exchange.

/// A kind of keymint token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Exchanged at `/auth/token` (RFC 9068): for downstream services, and
    /// for keymint's own API as the key it came from.
    Access,
    /// Issued by `/auth/login`: a person on the management API.
    Login,
    /// Minted at `.../portal-sessions`: one customer in the portal.
    Portal,
}

const ALL: [TokenKind; 3] = [TokenKind::Access, TokenKind::Login, TokenKind::Portal];

impl TokenKind {
    /// The `typ` header of this kind. Access tokens use RFC 9068's, so any
    /// standard verifier takes them; the other two are keymint's own, so a
    /// verifier expecting `at+jwt` refuses them.
    pub const fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "at+jwt",
            TokenKind::Login => "keymint-login+jwt",
            TokenKind::Portal => "keymint-portal+jwt",
        }
    }

    /// The kind a `typ` header names: compared case-insensitively, with an
    /// optional `application/` prefix (RFC 7515 section 4.1.9).
    pub fn from_typ(typ: &str) -> Option<Self> {
        let typ = typ.to_ascii_lowercase();
        let short = typ.strip_prefix("application/").unwrap_or(&typ);
        ALL.into_iter().find(|kind| kind.typ() == short)
    }

    /// The audience keymint gives (and requires of) this kind, where it
    /// fixes one. Access tokens carry the audience the client asked for.
    pub fn fixed_audience(self, issuer: &str) -> Option<String> {
        match self {
            TokenKind::Access => None,
            TokenKind::Login => Some(format!("{}/api", issuer.trim_end_matches('/'))),
            TokenKind::Portal => Some(format!("{}/portal", issuer.trim_end_matches('/'))),
        }
    }
}

/// Whether `audience` names something keymint itself consumes: any path
/// under the issuer (`<issuer>/api`, `<issuer>/portal`, with or without a
/// trailing slash, in any case). The issuer itself is the default audience
/// of access tokens and stays allowed. The exchange refuses these, so an
/// access token never even looks like another kind.
pub fn is_keymint_audience(issuer: &str, audience: &str) -> bool {
    let issuer = issuer.trim_end_matches('/').to_ascii_lowercase();
    let audience = audience.trim().to_ascii_lowercase();
    match audience.strip_prefix(&issuer) {
        Some(rest) => rest.starts_with('/') && !rest.trim_matches('/').is_empty(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_typ_and_reads_back() {
        for kind in ALL {
            assert_eq!(TokenKind::from_typ(kind.typ()), Some(kind));
            let long = format!("Application/{}", kind.typ().to_uppercase());
            assert_eq!(TokenKind::from_typ(&long), Some(kind));
        }
        assert_eq!(TokenKind::from_typ("JWT"), None);
        assert_eq!(TokenKind::from_typ("dpop+jwt"), None);
    }

    #[test]
    fn keymint_audiences_are_paths_under_the_issuer() {
        let issuer = "http://127.0.0.1:8080";
        for own in [
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080/api/",
            "HTTP://127.0.0.1:8080/Portal",
            "http://127.0.0.1:8080/portal/",
            "http://127.0.0.1:8080//api",
            "http://127.0.0.1:8080/anything/else",
            " http://127.0.0.1:8080/api ",
        ] {
            assert!(is_keymint_audience(issuer, own), "{own}");
        }
        for theirs in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:80801/api",
            "https://billing.example",
            "http://127.0.0.1:8080.evil.example/api",
        ] {
            assert!(!is_keymint_audience(issuer, theirs), "{theirs}");
        }
        assert!(is_keymint_audience(
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api"
        ));
    }
}
