//! Facts about the client that depend on whom we trust: its IP address and
//! whether it reached us over HTTPS. `X-Forwarded-*` headers count only when
//! the direct peer is one of `KEYMINT_TRUSTED_PROXIES`.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client's address: the peer, or, behind trusted proxies, the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(request: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|hop| !is_trusted(*hop, trusted))
            .unwrap_or(peer),
    )
}

/// Whether the request arrived over TLS here, or over HTTPS at a trusted
/// proxy that says so in `X-Forwarded-Proto`.
pub fn is_https(request: &HttpRequest, trusted: &[IpNet]) -> bool {
    if request.app_config().secure() {
        return true;
    }
    let from_trusted_proxy = request
        .peer_addr()
        .is_some_and(|peer| is_trusted(peer.ip(), trusted));
    from_trusted_proxy
        && request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded_for: Option<&str>, proto: Option<&str>) -> HttpRequest {
        let mut builder = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        if let Some(value) = forwarded_for {
            builder = builder.insert_header(("x-forwarded-for", value));
        }
        if let Some(value) = proto {
            builder = builder.insert_header(("x-forwarded-proto", value));
        }
        builder.to_http_request()
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let direct = request("203.0.113.9", Some("198.51.100.1"), Some("https"));
        assert_eq!(
            client_ip(&direct, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        assert!(!is_https(&direct, &trusted));

        let proxied = request("10.0.0.2", Some("198.51.100.1, 10.0.0.7"), Some("https"));
        assert_eq!(
            client_ip(&proxied, &trusted),
            Some("198.51.100.1".parse().unwrap())
        );
        assert!(is_https(&proxied, &trusted));

        let spoofed_chain = request("10.0.0.2", Some("1.1.1.1, 198.51.100.1"), None);
        assert_eq!(
            client_ip(&spoofed_chain, &trusted),
            Some("198.51.100.1".parse().unwrap())
        );
        assert!(!is_https(&spoofed_chain, &trusted));
    }
}
