//! The verifier library and its actix extractor with DPoP-bound tokens:
//! the example downstream service takes a bound token only with a fresh
//! proof of its key, made for the service's own URL.

use keymint::dpop::prover::ProofKey;
use keymint::signing::SigningAlg;
use keymint::verifier::{DpopError, Presented, Verifier, VerifierError};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app, status_and_json};
use crate::verifier::spawn_downstream;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn bound_token(app: &TestApp, key: &ProofKey) -> String {
    let proof = key
        .proof("POST", &app.url("/auth/token"), None, None, now())
        .unwrap();
    let response = app
        .client
        .post(app.url("/auth/token"))
        .bearer_auth(&app.bootstrap.secret)
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(
    url: &str,
    authorization: String,
    proof: Option<String>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("Authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = status_and_json(response).await;
    (status, challenge, body)
}

async fn the_extractor_takes_a_bound_token_only_with_a_fresh_proof(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let downstream = spawn_downstream(Verifier::builder(&app.base).build().unwrap());
    let whoami = format!("{downstream}/whoami");
    let key = ProofKey::generate(SigningAlg::EdDSA).unwrap();
    let token = bound_token(&app, &key).await;
    let dpop = format!("DPoP {token}");
    let fresh =
        |key: &ProofKey, url: &str| key.proof("GET", url, Some(&token), None, now()).unwrap();

    let proof = fresh(&key, &whoami);
    let (status, _, body) = call(&whoami, dpop.clone(), Some(proof.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dpop_jkt"], key.thumbprint());

    let refusals = [
        ("a replay", dpop.clone(), Some(proof), "invalid_dpop_proof"),
        (
            "as Bearer",
            format!("Bearer {token}"),
            None,
            "invalid_token",
        ),
        ("without a proof", dpop.clone(), None, "invalid_dpop_proof"),
        (
            "a thief's proof",
            dpop.clone(),
            Some(fresh(
                &ProofKey::generate(SigningAlg::ES256).unwrap(),
                &whoami,
            )),
            "invalid_token",
        ),
        (
            "a proof for keymint",
            dpop.clone(),
            Some(fresh(&key, &app.url("/api/v1/me"))),
            "invalid_dpop_proof",
        ),
    ];
    for (what, authorization, proof, code) in refusals {
        let (status, challenge, body) = call(&whoami, authorization, proof).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(code)),
            "{what}: {body}"
        );
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.starts_with(&format!("DPoP error=\"{code}\"")),
            "{what}: {challenge}"
        );
    }
    // The control: an unbound token as Bearer, and not as DPoP.
    let plain = app.token().await;
    let (status, _, _) = call(&whoami, format!("Bearer {plain}"), None).await;
    assert_eq!(status, 200);
    let proof = key
        .proof("GET", &whoami, Some(&plain), None, now())
        .unwrap();
    let (status, _, body) = call(&whoami, format!("DPoP {plain}"), Some(proof)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

async fn the_library_checks_the_binding_and_remembers_proofs(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let verifier = Verifier::builder(&app.base).build().unwrap();
    let key = ProofKey::generate(SigningAlg::ES256).unwrap();
    let token = bound_token(&app, &key).await;
    let url = "https://orders.example/orders";
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifierError::Dpop(DpopError::ProofRequired))
    ));
    let proof = key.proof("GET", url, Some(&token), None, now()).unwrap();
    let presented = Presented {
        proof: Some(&proof),
        method: "GET",
        url,
    };
    let claims = verifier.verify_presented(&token, &presented).await.unwrap();
    assert_eq!(claims.cnf.unwrap().jkt, key.thumbprint());
    assert!(matches!(
        verifier.verify_presented(&token, &presented).await,
        Err(VerifierError::Dpop(DpopError::Replayed))
    ));
    // Its clones share the memory of proofs; inspecting checks no binding.
    let clone = verifier.clone();
    assert!(clone.verify_presented(&token, &presented).await.is_err());
    assert!(verifier.inspect(&token).await.unwrap().cnf.is_some());
}

crate::on_both_backends!(
    the_extractor_takes_a_bound_token_only_with_a_fresh_proof,
    the_library_checks_the_binding_and_remembers_proofs,
);
