//! A rotation as verifiers live it: two replicas share the keys folder and
//! issue tokens continuously while a verifier that fetches the JWKS only as
//! its Cache-Control allows checks every one. With the rotation's schedule
//! (activate after max-age plus a margin), none may fail.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use keymint::signing::{KeyTiming, SigningAlg, rotation};
use keymint::verifier::Verifier;

use crate::helpers::{Backend, TestApp, spawn_app_with_key_timing, token_kid};

const ISSUER: &str = "https://keymint.test";
/// Short stand-ins for the contract's 300 s max-age and 5 s reload.
const MAX_AGE: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_secs(2);
const TIMING: KeyTiming = KeyTiming {
    reload_period: Duration::from_millis(100),
    jwks_max_age: MAX_AGE,
};
/// Tokens of the new key to see before the rotation counts as done.
const NEW_KEY_TOKENS: usize = 20;

async fn replica(backend: Backend, keys_dir: Option<&std::path::Path>) -> Option<TestApp> {
    spawn_app_with_key_timing(backend, TIMING, |config| {
        config.issuer = Some(ISSUER.to_owned());
        if let Some(dir) = keys_dir {
            config.keys_dir = dir.to_owned();
        }
    })
    .await
}

async fn verifiers_see_no_failure_while_tokens_are_issued_across_a_rotation(backend: Backend) {
    let Some(a) = replica(backend, None).await else {
        return;
    };
    let b = replica(backend, Some(a.keys_dir())).await.unwrap();
    let verifier = Verifier::builder(ISSUER)
        .jwks_url(a.url("/.well-known/jwks.json"))
        // No early refetch: only the schedule may keep verifiers working.
        .unknown_kid_refetch_interval(Duration::from_secs(3600))
        .build()
        .unwrap();

    let first_token = a.token().await;
    let old_kid = token_kid(&first_token);
    let mut rotated_at = None;
    let mut issued = 0usize;
    let mut by_kid: HashMap<String, usize> = HashMap::new();
    let mut failures = Vec::new();
    let deadline = tokio::time::Instant::now() + MAX_AGE + MARGIN + Duration::from_secs(15);
    let new_kid = loop {
        let replica = if issued.is_multiple_of(2) { &a } else { &b };
        let token = replica.token().await;
        issued += 1;
        match verifier.verify(&token).await {
            Ok(_) => *by_kid.entry(token_kid(&token)).or_default() += 1,
            Err(error) => failures.push(format!("{}: {error}", token_kid(&token))),
        }
        if issued == 10 {
            let rotation = rotation::rotate(a.keys_dir(), SigningAlg::EdDSA, Utc::now(), {
                chrono::Duration::from_std(MAX_AGE + MARGIN).unwrap()
            })
            .unwrap();
            assert_eq!(rotation.retiring.len(), 1);
            rotated_at = Some(rotation.added.metadata.kid.clone());
        }
        if let Some(new_kid) = &rotated_at
            && by_kid.get(new_kid).copied().unwrap_or(0) >= NEW_KEY_TOKENS
        {
            break new_kid.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key never signed: {by_kid:?}"
        );
        // Paced, not racing: about 50 exchanges a second.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A token of the retired key still verifies: it stays published.
    let old_again = verifier.verify(&first_token).await;

    let stats = verifier.stats();
    let verified: usize = by_kid.values().sum();
    eprintln!(
        "rotation: {issued} tokens issued by 2 replicas, {verified} verified \
         ({} old key, {} new key), {} failures, {} JWKS fetches, {} unknown-kid refetches",
        by_kid.get(&old_kid).copied().unwrap_or(0),
        by_kid.get(&new_kid).copied().unwrap_or(0),
        failures.len(),
        stats.fetches,
        stats.unknown_kid_refetches,
    );
    assert!(
        failures.is_empty(),
        "{} failed verifications, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(verified, issued);
    assert!(by_kid[&old_kid] >= 10, "{by_kid:?}");
    assert!(old_again.is_ok(), "{old_again:?}");
    assert!(
        stats.fetches >= 2,
        "the verifier refetched when max-age ran out: {stats:?}"
    );
    assert_eq!(
        (
            stats.unknown_kid_refetches,
            stats.unknown_kid_refetches_refused
        ),
        (0, 0),
        "no token named a key the verifier had not fetched in time"
    );
}

crate::on_both_backends!(verifiers_see_no_failure_while_tokens_are_issued_across_a_rotation);
