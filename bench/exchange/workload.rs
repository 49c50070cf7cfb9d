//! The federated rows: an OIDC issuer in this process (discovery and a
//! JWKS on loopback, one ES256 key), a trust policy for its workload, and
//! that workload's tokens, each exchanged once.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use keymint::db;
use keymint::db::models::trust_policies::{self, TrustPolicy};
use keymint::signing::{SigningAlg, SigningKey};
use serde_json::json;

use crate::once::OncePool;

const AUDIENCE: &str = "https://bench.example";
const SUBJECT: &str = "repo:bench/api:ref:refs/heads/main";

pub struct WorkloadIssuer {
    pub base: String,
    key: SigningKey,
}

impl WorkloadIssuer {
    /// Serves `/.well-known/openid-configuration` and `/jwks` on a thread of
    /// its own (keymint fetches them once: `max-age=300`).
    pub fn start() -> Self {
        let pkcs8 = SigningKey::generate_pkcs8(SigningAlg::ES256).expect("key");
        let key = SigningKey::from_pkcs8(SigningAlg::ES256, &pkcs8).expect("key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string();
        let jwks = json!({"keys": [key.jwk()]}).to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let body = if line.contains("/jwks") {
                    &jwks
                } else {
                    &discovery
                };
                let _ = write!(
                    &stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=300\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base, key }
    }

    /// The policy trusting this issuer's workload, in `workspace_id`.
    pub fn trust(&self, database_url: &str, workspace_id: &str) -> String {
        let pool = db::connect(database_url, 1).expect("database");
        let mut conn = pool.get().expect("connection");
        let policy = TrustPolicy {
            id: keymint::db::models::new_id(),
            workspace_id: workspace_id.to_owned(),
            name: "bench workload".to_owned(),
            issuer: self.base.clone(),
            jwks_uri: None,
            audiences: json!([AUDIENCE]).to_string(),
            subject: Some(SUBJECT.to_owned()),
            claims: "{}".to_owned(),
            scopes: String::new(),
            environment: None,
            max_ttl_seconds: None,
            rate_limit: Some(1_000_000),
            created_at: keymint::clock::now(),
            created_by: None,
        };
        trust_policies::insert(&mut conn, &policy).expect("policy");
        policy.id
    }

    /// `count` tokens of the workload, GitHub-Actions-shaped, each with a
    /// `jti` of its own, ready as form bodies for `policy_id`.
    pub fn exchanges(&self, policy_id: &str, count: usize) -> OncePool {
        let now = chrono::Utc::now().timestamp();
        OncePool::make(count, || {
            let claims = json!({
                "iss": self.base, "aud": AUDIENCE, "sub": SUBJECT,
                "jti": uuid::Uuid::new_v4().to_string(),
                "repository": "bench/api", "ref": "refs/heads/main",
                "iat": now, "nbf": now, "exp": now + 600,
            });
            let header = json!({"alg": "ES256", "kid": self.key.kid(), "typ": "JWT"});
            let token = self.key.sign_with_header(&header, &claims).expect("token");
            format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id={policy_id}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token={token}"
            )
        })
    }
}
