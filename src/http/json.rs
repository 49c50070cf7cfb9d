//! JSON bodies with the contract's errors: malformed JSON or a missing field
//! is 400 `invalid_request`; a field of the wrong type is 422
//! `validation_error` naming the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body, with the contract's errors for a wrong content type
/// (415), an oversized body (413) and malformed or mistyped JSON (400/422).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let body = web::Bytes::from_request(&request, payload);
        Box::pin(async move {
            let body = body.await.map_err(body_error)?;
            parse_body(&request, &body)?
                .map(Json)
                .ok_or_else(|| ApiError::InvalidRequest("A JSON body is required.".to_owned()))
        })
    }
}

/// Parses a body that may be absent: `None` when it is empty.
pub fn parse_body<T: DeserializeOwned>(
    request: &HttpRequest,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !request
        .content_type()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::UnsupportedMediaType(
            "Send the body as application/json.".to_owned(),
        ));
    }
    parse(body).map(Some)
}

/// Reading the body failed: too large, or the connection broke.
pub fn body_error(error: actix_web::Error) -> ApiError {
    if error.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: super::MAX_BODY_BYTES,
        }
    } else {
        ApiError::InvalidRequest("The request body could not be read.".to_owned())
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    super::text::check_json(bytes)?;
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let missing_field = message.starts_with("missing field");
        match inner.classify() {
            serde_json::error::Category::Data if !missing_field && path != "." => {
                ApiError::validation(path, strip_position(&message))
            }
            serde_json::error::Category::Data if missing_field => {
                ApiError::InvalidRequest(format!(
                    "The request body is missing a field: {}.",
                    strip_position(&message)
                ))
            }
            _ => ApiError::InvalidRequest(
                "The request body is not valid JSON of the expected shape.".to_owned(),
            ),
        }
    })
}

/// serde_json appends " at line L column C"; the field name says enough.
fn strip_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |at| &message[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        ttl: Option<u32>,
    }

    #[test]
    fn errors_are_classified() {
        assert!(parse::<Body>(br#"{"name":"a","ttl":5}"#).is_ok());
        assert!(matches!(
            parse::<Body>(b"{not json"),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(
            matches!(parse::<Body>(b"{}"), Err(ApiError::InvalidRequest(m)) if m.contains("name"))
        );
        match parse::<Body>(br#"{"name":"a","ttl":"soon"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "ttl"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse::<Body>(br#""text""#),
            Err(ApiError::InvalidRequest(_))
        ));
    }
}
