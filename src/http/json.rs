//! JSON bodies with the contract's errors: malformed JSON or a missing field
//! is 400 `invalid_request`; a field of the wrong type is 422
//! `validation_error` naming the field.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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
