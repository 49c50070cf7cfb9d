//! The adversarial suite: keymint attacked as `docs/threat-model.md` lists,
//! one module per class of attack. Each attack is tried in every form the
//! API accepts (every exchange form, both secret headers, secret and JWT,
//! every key kind), and each refusal has a positive control beside it, so a
//! server that refused everything would fail here.

mod bounded_work;
mod claim_types;
mod invitations;
mod stored_text;
mod token_kinds;
mod widening;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, status_and_json};

/// Every way `/auth/token` takes a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `{"secret": ...}`.
    Json,
    /// `Authorization: Bearer` with the other parameters as JSON.
    BearerWithJson,
    /// `X-Api-Key` with the other parameters as JSON.
    ApiKeyWithJson,
    /// client_credentials with `client_secret` in the form.
    ClientCredentials,
    /// client_credentials with HTTP Basic.
    ClientCredentialsBasic,
    /// RFC 8693 with the secret as `subject_token`.
    TokenExchange,
}

pub const EVERY_FORM: [Form; 6] = [
    Form::Json,
    Form::BearerWithJson,
    Form::ApiKeyWithJson,
    Form::ClientCredentials,
    Form::ClientCredentialsBasic,
    Form::TokenExchange,
];

impl Form {
    /// The OAuth forms answer with RFC 6749 codes.
    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            Form::ClientCredentials | Form::ClientCredentialsBasic | Form::TokenExchange
        )
    }
}

/// Exchanges `secret` in `form` with `params` (`email`, `audience`,
/// `scope`...); the status and JSON body.
pub async fn exchange(
    app: &TestApp,
    form: Form,
    secret: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let url = app.url("/auth/token");
    let as_json = || {
        let mut body = serde_json::Map::new();
        for (name, value) in params {
            body.insert((*name).to_owned(), json!(value));
        }
        body
    };
    let as_form = |first: &[(&str, &str)]| {
        let mut pairs: Vec<(String, String)> = first
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        pairs.extend(
            params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        pairs
    };
    let request = match form {
        Form::Json => {
            let mut body = as_json();
            body.insert("secret".to_owned(), json!(secret));
            app.client.post(url).json(&body)
        }
        Form::BearerWithJson => app.client.post(url).bearer_auth(secret).json(&as_json()),
        Form::ApiKeyWithJson => app
            .client
            .post(url)
            .header("x-api-key", secret)
            .json(&as_json()),
        Form::ClientCredentials => app.client.post(url).form(&as_form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
        ])),
        Form::ClientCredentialsBasic => {
            let email = params
                .iter()
                .find(|(name, _)| *name == "email")
                .map_or("", |(_, value)| *value);
            app.client
                .post(url)
                .basic_auth(email, Some(secret))
                .form(&as_form(&[("grant_type", "client_credentials")]))
        }
        Form::TokenExchange => app.client.post(url).form(&as_form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", secret),
            (
                "subject_token_type",
                "urn:keymint:params:oauth:token-type:api-key",
            ),
        ])),
    };
    status_and_json(request.send().await.expect("request")).await
}

/// A secret of one kind, with the email its exchange needs.
pub struct Credential {
    pub kind: &'static str,
    pub secret: String,
    pub email: Option<String>,
}

impl Credential {
    /// `params` plus the email, for a personal key.
    pub fn params<'a>(&'a self, params: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = params.to_vec();
        if let Some(email) = &self.email {
            all.push(("email", email));
        }
        all
    }
}

pub const ADMIN_EMAIL: &str = "admin.of.keys@example.test";
pub const ADMIN_PASSWORD: &str = "admin test password";

/// One secret of every kind in the bootstrap workspace: the four the
/// management API creates, and a personal token of an admin.
pub async fn one_of_every_kind(app: &TestApp) -> Vec<Credential> {
    let mut every = Vec::new();
    for (kind, body) in [
        ("workspace", json!({ "name": "w", "kind": "workspace" })),
        (
            "partner",
            json!({ "name": "p", "kind": "partner", "partner": "zapier" }),
        ),
        ("management", json!({ "name": "m", "kind": "management" })),
        (
            "customer",
            json!({ "name": "c", "kind": "customer", "external_id": "cus_1" }),
        ),
    ] {
        every.push(Credential {
            kind,
            secret: app.new_secret(body).await,
            email: None,
        });
    }
    let (_, login) = app.person(ADMIN_EMAIL, "admin", ADMIN_PASSWORD).await;
    every.push(Credential {
        kind: "personal",
        secret: personal_token(app, &login, json!({ "name": "mine" })).await,
        email: Some(ADMIN_EMAIL.to_owned()),
    });
    every
}

/// Creates a personal token with `credential`; its secret.
pub async fn personal_token(app: &TestApp, credential: &str, body: Value) -> String {
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/users/me/api-keys",
            credential,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["secret"].as_str().unwrap().to_owned()
}

/// The access token of an exchange that must succeed.
pub async fn access_token(
    app: &TestApp,
    credential: &Credential,
    params: &[(&str, &str)],
) -> String {
    let (status, body) = exchange(
        app,
        Form::Json,
        &credential.secret,
        &credential.params(params),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `POST /auth/introspect` of `token`, authenticated by `credential`.
pub async fn introspect(app: &TestApp, credential: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/auth/introspect"))
        .bearer_auth(credential)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

/// Whether the bootstrap key, introspecting `token`, finds it active.
pub async fn is_active(app: &TestApp, token: &str) -> Value {
    let (status, body) = introspect(app, &app.bootstrap.secret, token).await;
    assert_eq!(status, 200, "{body}");
    body["active"].clone()
}
