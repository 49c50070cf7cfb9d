//! Reading credentials from request headers: `Authorization: Bearer`,
//! `Authorization: DPoP` (a bound token, RFC 9449), `X-Api-Key`, and HTTP
//! Basic (OAuth `client_secret_basic`).

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

pub const X_API_KEY: &str = "x-api-key";

/// What the `Authorization` header carries.
#[derive(PartialEq, Eq)]
pub enum Authorization {
    Bearer(String),
    /// A DPoP-bound token; its proof is the `DPoP` header.
    Dpop(String),
    /// RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    Basic {
        user: String,
        password: String,
    },
}

/// Parses the `Authorization` header, if any. A header that is present but
/// not `Bearer <token>` or valid `Basic` is 401 `unauthorized`.
pub fn authorization(request: &HttpRequest) -> Result<Option<Authorization>, ApiError> {
    let Some(value) = request.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized)?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Ok(Some(Authorization::Bearer(rest.to_owned())))
    } else if scheme.eq_ignore_ascii_case("dpop") && !rest.is_empty() {
        Ok(Some(Authorization::Dpop(rest.to_owned())))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).map_err(|_| ApiError::Unauthorized)?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthorized)?;
        let (user, password) = decoded.split_once(':').ok_or(ApiError::Unauthorized)?;
        let unescape = |text: &str| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={text}"))
                .ok()
                .and_then(|mut pairs| pairs.pop())
                .map(|(_, value)| value)
                .ok_or(ApiError::Unauthorized)
        };
        Ok(Some(Authorization::Basic {
            user: unescape(user)?,
            password: unescape(password)?,
        }))
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// A secret or token presented as `Authorization: Bearer` or `X-Api-Key`
/// (where no DPoP-bound token is taken: the token endpoint).
pub fn bearer_or_api_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    match presented(request)? {
        Some((credential, false)) => Ok(Some(credential)),
        Some((_, true)) => Err(ApiError::Unauthorized),
        None => Ok(None),
    }
}

/// A secret or token presented as `Authorization: Bearer`, `DPoP` or
/// `X-Api-Key`, and whether it came as DPoP.
pub fn presented(request: &HttpRequest) -> Result<Option<(String, bool)>, ApiError> {
    match authorization(request)? {
        Some(Authorization::Bearer(token)) => Ok(Some((token, false))),
        Some(Authorization::Dpop(token)) => Ok(Some((token, true))),
        Some(Authorization::Basic { .. }) => Err(ApiError::Unauthorized),
        None => match request.headers().get(X_API_KEY) {
            Some(value) => {
                let value = value.to_str().map_err(|_| ApiError::Unauthorized)?.trim();
                if value.is_empty() {
                    Err(ApiError::Unauthorized)
                } else {
                    Ok(Some((value.to_owned(), false)))
                }
            }
            None => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn bearer_api_key_and_basic_are_read() {
        let bearer = TestRequest::default()
            .insert_header((AUTHORIZATION, "bearer kmk_x"))
            .to_http_request();
        assert_eq!(
            bearer_or_api_key(&bearer).unwrap().as_deref(),
            Some("kmk_x")
        );
        let api_key = TestRequest::default()
            .insert_header((X_API_KEY, "kmk_y"))
            .to_http_request();
        assert_eq!(
            bearer_or_api_key(&api_key).unwrap().as_deref(),
            Some("kmk_y")
        );
        let none = TestRequest::default().to_http_request();
        assert_eq!(bearer_or_api_key(&none).unwrap(), None);
        // "a@b.c:s%3Acret" → user a@b.c, password s:cret
        let basic = TestRequest::default()
            .insert_header((
                AUTHORIZATION,
                format!("Basic {}", STANDARD.encode("a%40b.c:s%3Acret")),
            ))
            .to_http_request();
        let parsed = authorization(&basic).unwrap();
        assert!(
            matches!(parsed, Some(Authorization::Basic { user, password }) if user == "a@b.c" && password == "s:cret")
        );
    }

    #[test]
    fn malformed_headers_are_unauthorized() {
        for value in ["Bearer", "Bearer ", "Token abc", "Basic !!!", "kmk_x"] {
            let request = TestRequest::default()
                .insert_header((AUTHORIZATION, value))
                .to_http_request();
            assert!(
                matches!(bearer_or_api_key(&request), Err(ApiError::Unauthorized)),
                "{value}"
            );
        }
    }
}
