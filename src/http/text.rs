//! Text no backend can store: PostgreSQL's `text` refuses NUL, so a NUL
//! in any value that may reach the database (a JSON field, a path segment,
//! a query parameter) is 422 on both backends, before any handler runs,
//! rather than a 500 on one of them.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::ApiError;

/// Middleware: 422 for a NUL (`%00`) in the path or the query.
pub async fn refuse_nul_in_url(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let uri = request.uri();
    let field = if has_encoded_nul(uri.path()) {
        Some("path")
    } else if uri.query().is_some_and(has_encoded_nul) {
        Some("query")
    } else {
        None
    };
    if let Some(field) = field {
        let response = nul_refused(field).error_response();
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn has_encoded_nul(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

fn nul_refused(field: &str) -> ApiError {
    ApiError::validation(field, "must not contain the NUL character")
}

/// 422 naming the first JSON value (or member name) holding a NUL. Only a
/// body with the `\u0000` escape is looked into (JSON cannot carry a raw
/// NUL in a string), so ordinary bodies cost one scan.
pub fn check_json(body: &[u8]) -> Result<(), ApiError> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // Malformed: the parser that follows says so.
        return Ok(());
    };
    match path_of_nul(&value, String::new()) {
        Some(path) => Err(nul_refused(if path.is_empty() { "." } else { &path })),
        None => Ok(()),
    }
}

fn path_of_nul(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| path_of_nul(item, format!("{path}[{index}]"))),
        Value::Object(members) => members.iter().find_map(|(name, member)| {
            let here = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            if name.contains('\0') {
                Some(here)
            } else {
                path_of_nul(member, here)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_json_is_named_and_refused() {
        assert!(check_json(br#"{"name":"ok","scopes":["a"]}"#).is_ok());
        // An escaped backslash before "u0000" is text, not a NUL.
        assert!(check_json(br#"{"name":"\\u0000"}"#).is_ok());
        for (body, field) in [
            (&br#"{"name":"a\u0000b"}"#[..], "name"),
            (br#"{"scopes":["ok","x\u0000"]}"#, "scopes[1]"),
            (br#"{"a":{"b\u0000":1}}"#, "a.b\u{0}"),
        ] {
            match check_json(body) {
                Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn encoded_nuls_are_found_in_urls() {
        assert!(has_encoded_nul("/api/v1/workspaces/a%00b"));
        assert!(!has_encoded_nul("/api/v1/workspaces/a%20b"));
        assert!(!has_encoded_nul("/keys?limit=100"));
    }
}
