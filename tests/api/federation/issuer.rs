//! An OIDC issuer on loopback that keymint does not run: discovery, a
//! JWKS (one RS256 key, as GitHub Actions and Kubernetes publish, and one
//! ES256 key), and tokens of the shapes those platforms issue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use keymint::signing::{SigningAlg, SigningKey, import};

const RSA_FIXTURE: &[u8] = include_bytes!("../../fixtures/rsa-2048-test-only.pkcs8.pem");

pub struct TestIssuer {
    pub base: String,
    pub rsa: SigningKey,
    pub ec: SigningKey,
    /// A key the issuer never published.
    pub stranger: SigningKey,
    pub jwks_fetches: Arc<AtomicUsize>,
}

impl TestIssuer {
    pub fn start() -> Self {
        let rsa = import::from_pem(RSA_FIXTURE).unwrap();
        let rsa = SigningKey::from_pkcs8(rsa.alg, &rsa.pkcs8).unwrap();
        let ec = generated(SigningAlg::ES256);
        let stranger = generated(SigningAlg::ES256);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let jwks = json!({ "keys": [rsa.jwk(), ec.jwk()] });
        let discovery = json!({
            "issuer": base,
            "jwks_uri": format!("{base}/jwks"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        });
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let fetches = jwks_fetches.clone();
        let server = HttpServer::new(move || {
            let (jwks, discovery, fetches) = (jwks.clone(), discovery.clone(), fetches.clone());
            App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let discovery = discovery.clone();
                        async move { HttpResponse::Ok().json(discovery) }
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(move || {
                        let (jwks, fetches) = (jwks.clone(), fetches.clone());
                        async move {
                            fetches.fetch_add(1, Ordering::Relaxed);
                            HttpResponse::Ok()
                                .insert_header(("Cache-Control", "max-age=300"))
                                .json(jwks)
                        }
                    }),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            base,
            rsa,
            ec,
            stranger,
            jwks_fetches,
        }
    }

    /// `claims` signed by `key` under a header naming `kid`.
    pub fn sign_as(&self, key: &SigningKey, kid: &str, claims: &Value) -> String {
        let header = json!({ "alg": key.alg().as_str(), "kid": kid, "typ": "JWT" });
        key.sign_with_header(&header, claims).unwrap()
    }

    /// `claims` signed by the issuer's RS256 key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.rsa, self.rsa.kid(), claims)
    }

    /// A GitHub Actions OIDC token's claims (their real claim set), for a
    /// push to `git_ref` of `repository`.
    pub fn github_actions(&self, audience: &str, repository: &str, git_ref: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "aud": audience,
            "ref": git_ref,
            "sha": "d6bd5f5bbf1fb4a7c4c8a1a7e1e5b9e1f2c3d4e5",
            "repository": repository,
            "repository_owner": repository.split('/').next().unwrap(),
            "repository_visibility": "private",
            "run_id": "7364018239",
            "run_number": "42",
            "run_attempt": "1",
            "actor": "octocat",
            "workflow": "deploy",
            "event_name": "push",
            "ref_type": "branch",
            "environment": "production",
            "job_workflow_ref": format!("{repository}/.github/workflows/deploy.yml@{git_ref}"),
            "iss": self.base,
            "nbf": now - 5,
            "exp": now + 300,
            "iat": now - 5,
        })
    }

    /// A projected Kubernetes service-account token's claims.
    pub fn kubernetes(&self, audience: &str, namespace: &str, account: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "aud": [audience],
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "iss": self.base,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": "node-1", "uid": "8d0c3c36-1ab2-4c87-b1a4-5b43f9d5e2a1"},
                "pod": {"name": "deployer-7c9f", "uid": "0b5ee1b7-5b5e-4c6e-9f0a-7c1b3d2e4f60"},
                "serviceaccount": {"name": account, "uid": "b1e7f3a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
            },
            "sub": format!("system:serviceaccount:{namespace}:{account}"),
        })
    }
}

fn generated(alg: SigningAlg) -> SigningKey {
    SigningKey::from_pkcs8(alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap()
}
