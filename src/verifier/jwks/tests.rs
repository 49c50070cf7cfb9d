use super::*;
use reqwest::header::HeaderValue;

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn keys_come_over_https_or_from_loopback() {
    for safe in [
        "https://auth.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/.well-known/jwks.json",
        "http://[::1]:8080/jwks",
        "http://localhost/jwks",
    ] {
        assert!(is_safe_url(safe), "{safe}");
    }
    for unsafe_url in [
        "http://auth.example.com/.well-known/jwks.json",
        "http://10.0.0.1/jwks",
        "http://127.0.0.1.evil.example/jwks",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        assert!(!is_safe_url(unsafe_url), "{unsafe_url}");
    }
}

#[test]
fn freshness_follows_cache_control_and_age_within_bounds() {
    let secs = |pairs: &[(header::HeaderName, &str)]| freshness(&headers(pairs)).as_secs();
    assert_eq!(secs(&[(header::CACHE_CONTROL, "public, max-age=300")]), 300);
    assert_eq!(
        secs(&[
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::AGE, "100")
        ]),
        200
    );
    assert_eq!(secs(&[(header::CACHE_CONTROL, "Max-Age=2")]), 2);
    assert_eq!(secs(&[]), 300, "unspecified: keymint's own max-age");
    assert_eq!(secs(&[(header::CACHE_CONTROL, "no-store")]), 1);
    assert_eq!(secs(&[(header::CACHE_CONTROL, "no-cache, max-age=600")]), 1);
    assert_eq!(secs(&[(header::CACHE_CONTROL, "max-age=0")]), 1);
    assert_eq!(
        secs(&[(header::CACHE_CONTROL, "max-age=99999999")]),
        24 * 3600
    );
}
