//! Request ids: the caller's `X-Request-Id` when it is safe to echo and log,
//! else a fresh one, so one id follows a request through proxies and logs.

use actix_web::http::header::HeaderMap;

pub const HEADER: &str = "x-request-id";

/// Longest id accepted from a caller. Longer ones are replaced, not cut, so
/// a logged id is always one the caller (or keymint) really used.
pub const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id if valid, else a new random one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// Accepts 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 - _ . :`: enough
    /// for UUIDs, ULIDs and most tracing ids, and nothing that could break a
    /// log line or a header.
    pub fn parse(text: &str) -> Option<Self> {
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        (!text.is_empty() && text.len() <= MAX_LEN && text.chars().all(safe))
            .then(|| Self(text.to_owned()))
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_safe_ids_are_kept() {
        assert_eq!(
            RequestId::parse("req-01J9Z.abc_1:2").unwrap().as_str(),
            "req-01J9Z.abc_1:2"
        );
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse("id\nforged=line").is_none());
        assert!(RequestId::parse("é").is_none());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN)).is_some());
        assert!(RequestId::parse(&"a".repeat(MAX_LEN + 1)).is_none());
        let generated = RequestId::generate();
        assert_eq!(RequestId::parse(generated.as_str()), Some(generated));
    }
}
