//! Reading a private key someone else generated (`signing-keys import`):
//! which algorithm it is for, and its PKCS#8 form, the one form `keys/`
//! holds.
//!
//! RSA keys often arrive as PKCS#1 (`RSA PRIVATE KEY`, what `openssl genrsa
//! -traditional` and many HSM exports write). ring reads those, but the
//! folder keeps one format, so they are wrapped into PKCS#8 here: the same
//! key, so the same public JWK and the same RFC 7638 kid.

use simple_asn1::{ASN1Block, BigInt, oid};

use super::key::{SigningAlg, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a PEM file: {0}")]
    NotPem(String),
    #[error(
        "{0:?} keys are not read directly; convert with `openssl pkcs8 -topk8 -nocrypt -in KEY`"
    )]
    Convert(String),
    #[error("a PEM {0:?} is not a private key keymint can sign with")]
    UnknownTag(String),
    #[error(
        "the key is not a P-256 (ES256), Ed25519 (EdDSA) or RSA of 2048 to 8192 bits (RS256) private key"
    )]
    Unsupported,
}

/// A private key ready to store: its algorithm and PKCS#8 DER.
pub struct Imported {
    pub alg: SigningAlg,
    pub pkcs8: Vec<u8>,
}

/// Parses a PEM private key: PKCS#8 (`PRIVATE KEY`) of P-256, Ed25519 or
/// RSA, or PKCS#1 (`RSA PRIVATE KEY`).
pub fn from_pem(text: &[u8]) -> Result<Imported, ImportError> {
    let pem = pem::parse(text).map_err(|e| ImportError::NotPem(e.to_string()))?;
    match pem.tag() {
        "PRIVATE KEY" => {
            let pkcs8 = pem.into_contents();
            let alg = detect_alg(&pkcs8).ok_or(ImportError::Unsupported)?;
            Ok(Imported { alg, pkcs8 })
        }
        "RSA PRIVATE KEY" => {
            let pkcs1 = pem.contents();
            // Refuse what ring would not sign with before wrapping it.
            ring::signature::RsaKeyPair::from_der(pkcs1).map_err(|_| ImportError::Unsupported)?;
            let pkcs8 = wrap_pkcs1(pkcs1);
            SigningKey::from_pkcs8(SigningAlg::RS256, &pkcs8)
                .map_err(|_| ImportError::Unsupported)?;
            Ok(Imported {
                alg: SigningAlg::RS256,
                pkcs8,
            })
        }
        tag @ ("EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY") => {
            Err(ImportError::Convert(tag.to_owned()))
        }
        tag => Err(ImportError::UnknownTag(tag.to_owned())),
    }
}

/// The algorithm a PKCS#8 key signs with, by asking ring which parser takes
/// it.
fn detect_alg(pkcs8: &[u8]) -> Option<SigningAlg> {
    [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256]
        .into_iter()
        .find(|&alg| SigningKey::from_pkcs8(alg, pkcs8).is_ok())
}

/// PKCS#8 `PrivateKeyInfo` (RFC 5208) around a PKCS#1 `RSAPrivateKey`:
/// version 0, algorithm rsaEncryption with NULL parameters, the key as an
/// OCTET STRING.
fn wrap_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let rsa_encryption = ASN1Block::Sequence(
        0,
        vec![
            ASN1Block::ObjectIdentifier(0, oid!(1, 2, 840, 113549, 1, 1, 1)),
            ASN1Block::Null(0),
        ],
    );
    let info = ASN1Block::Sequence(
        0,
        vec![
            ASN1Block::Integer(0, BigInt::from(0)),
            rsa_encryption,
            ASN1Block::OctetString(0, pkcs1.to_vec()),
        ],
    );
    simple_asn1::to_der(&info).expect("a PrivateKeyInfo of valid blocks encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the pem_import fuzz target: an RSA key whose CRT values
    /// disagree with `d` parses in ring, but no signature it makes checks
    /// out. Importing it would have made every exchange a 500.
    #[test]
    fn a_key_that_cannot_sign_is_refused_at_import() {
        let broken =
            include_bytes!("../../fuzz/regressions/pem_import/rsa-crt-values-disagree.pem");
        assert!(matches!(from_pem(broken), Err(ImportError::Unsupported)));
        // Control: the same encoding of a sound key imports.
        assert!(from_pem(RSA_PKCS1.as_bytes()).is_ok());
    }

    /// The same 2048-bit test key in both encodings (tests/fixtures/README.md).
    const RSA_PKCS1: &str = include_str!("../../tests/fixtures/rsa-2048-test-only.pkcs1.pem");
    const RSA_PKCS8: &str = include_str!("../../tests/fixtures/rsa-2048-test-only.pkcs8.pem");
    /// RFC 7638 thumbprint of that key, computed with Python from
    /// `openssl rsa -modulus`, independently of this code.
    const RSA_KID: &str = include_str!("../../tests/fixtures/rsa-2048-test-only.kid");

    fn kid(imported: &Imported) -> String {
        SigningKey::from_pkcs8(imported.alg, &imported.pkcs8)
            .unwrap()
            .kid()
            .to_owned()
    }

    #[test]
    fn pkcs1_and_pkcs8_rsa_give_the_same_rs256_key_and_kid() {
        let from_pkcs1 = from_pem(RSA_PKCS1.as_bytes()).unwrap();
        let from_pkcs8 = from_pem(RSA_PKCS8.as_bytes()).unwrap();
        assert_eq!(from_pkcs1.alg, SigningAlg::RS256);
        assert_eq!(from_pkcs8.alg, SigningAlg::RS256);
        assert_eq!(kid(&from_pkcs1), RSA_KID.trim());
        assert_eq!(kid(&from_pkcs8), RSA_KID.trim());
        // openssl's PKCS#8 is the same DER as the wrapped PKCS#1.
        assert_eq!(from_pkcs1.pkcs8, from_pkcs8.pkcs8);
    }

    #[test]
    fn generated_ec_and_ed_keys_are_recognised() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
            let pkcs8 = SigningKey::generate_pkcs8(alg).unwrap();
            let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
            assert_eq!(from_pem(text.as_bytes()).unwrap().alg, alg);
        }
    }

    #[test]
    fn other_documents_are_refused_with_a_reason() {
        let sec1 = pem::encode(&pem::Pem::new("EC PRIVATE KEY", vec![1, 2, 3]));
        assert!(matches!(
            from_pem(sec1.as_bytes()),
            Err(ImportError::Convert(_))
        ));
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        assert!(matches!(
            from_pem(cert.as_bytes()),
            Err(ImportError::UnknownTag(_))
        ));
        let junk = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2, 3]));
        assert!(matches!(
            from_pem(junk.as_bytes()),
            Err(ImportError::Unsupported)
        ));
        assert!(matches!(from_pem(b"hello"), Err(ImportError::NotPem(_))));
    }
}
