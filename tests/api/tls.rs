//! Native HTTPS (`KEYMINT_TLS_CERT`, `KEYMINT_TLS_KEY`): a server started
//! with a certificate from a test CA exchanges tokens over TLS, and counts
//! as HTTPS for `KEYMINT_REQUIRE_HTTPS`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::helpers::{Backend, http_client, http_client_trusting, spawn_app_with, status_and_json};

/// A test CA and a server certificate it signed.
struct TestPki {
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA, and a leaf with `CA:FALSE` and SANs for localhost and 127.0.0.1
/// (rustls refuses a self-signed CA certificate used as the leaf).
fn test_pki(dir: &Path) -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "keymint test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, leaf_cert.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        cert,
        key,
    }
}

async fn tokens_are_exchanged_over_https(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path());
    let Some(mut app) = spawn_app_with(backend, |config| {
        config.tls_cert = Some(pki.cert.clone());
        config.tls_key = Some(pki.key.clone());
        // Direct TLS is HTTPS: no proxy needs to vouch for it.
        config.require_https = true;
    })
    .await
    else {
        return;
    };
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    app.client = http_client_trusting(&pki.ca_pem);

    let token = app.token().await;
    let claims = crate::helpers::unverified_claims(&token);
    assert_eq!(claims["iss"], app.base.as_str(), "the issuer says https");

    // The DNS name in the certificate works too.
    let by_name = app.base.replace("127.0.0.1", "localhost");
    let response = app
        .client
        .post(format!("{by_name}/auth/token"))
        .bearer_auth(&app.bootstrap.secret)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");

    // Without the CA the certificate is not trusted; plain HTTP gets no answer.
    let untrusted = http_client().get(app.url("/healthz")).send().await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    let plain = http_client()
        .get(app.url("/healthz").replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "{plain:?}"
    );
}

crate::on_both_backends!(tokens_are_exchanged_over_https);
