//! The floor under any exchange rate: how fast ring signs ES256 here, with
//! a parsed (cached) key pair, as keymint's SigningKey does.

use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

/// Signatures per second on each of `threads` threads together.
pub fn es256_signs_per_second(threads: usize, duration: Duration) -> f64 {
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
