//! The floor under any exchange rate: how fast ring signs ES256 here, with
//! a parsed (cached) key pair, as keymint's SigningKey does; and how fast
//! it verifies one, the work a DPoP proof adds.

use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};

/// ring's ES256 rates in the same minutes as the rows.
pub struct Floor {
    pub sign_one_core: f64,
    pub sign_two_threads: f64,
    pub verify_one_core: f64,
}

impl Floor {
    pub fn measure(each: Duration) -> Self {
        Self {
            sign_one_core: es256_signs_per_second(1, each),
            sign_two_threads: es256_signs_per_second(2, each),
            verify_one_core: es256_verifies_per_second(each),
        }
    }
}

/// Signatures per second on `threads` threads together.
fn es256_signs_per_second(threads: usize, duration: Duration) -> f64 {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // About the size of an access token's header and claims.
    let message = [b'x'; 600];
    let signed: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let rng = SystemRandom::new();
                    let started = Instant::now();
                    let mut count = 0u64;
                    while started.elapsed() < duration {
                        for _ in 0..100 {
                            pair.sign(&rng, &message).unwrap();
                        }
                        count += 100;
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    signed as f64 / duration.as_secs_f64()
}

/// Verifications per second on one thread, the public key parsed each time
/// as a proof's embedded key is.
fn es256_verifies_per_second(duration: Duration) -> f64 {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // About the size of a proof's header and claims.
    let message = [b'x'; 300];
    let signature = pair.sign(&rng, &message).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < duration {
        for _ in 0..100 {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
                .verify(&message, signature.as_ref())
                .unwrap();
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}
