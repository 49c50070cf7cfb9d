//! Text no backend can store (a NUL: PostgreSQL's `text` refuses it) is
//! 422 on both backends, wherever it is sent, never a 500; what is stored
//! stays as it was.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app, status_and_json};

async fn a_nul_anywhere_is_422_on_both_backends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let secret = &app.bootstrap.secret;
    let bodies = [
        (
            Method::POST,
            app.ws_path("/keys"),
            json!({ "name": "a\u{0}b", "kind": "workspace" }),
        ),
        (
            Method::POST,
            app.ws_path("/keys"),
            json!({ "name": "c", "kind": "customer", "external_id": "cus\u{0}" }),
        ),
        (
            Method::POST,
            app.ws_path("/members"),
            json!({ "email": "a\u{0}@b.test", "role": "viewer" }),
        ),
        (
            Method::POST,
            app.ws_path("/environments"),
            json!({ "name": "st\u{0}ging" }),
        ),
        (Method::PATCH, app.ws_path(""), json!({ "name": "x\u{0}" })),
        (
            Method::POST,
            "/auth/login".to_owned(),
            json!({ "email": "\u{0}", "password": "p" }),
        ),
    ];
    for (method, path, body) in bodies {
        let (status, answer) = app
            .call(method.clone(), &path, secret, Some(body.clone()))
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("validation_error")),
            "{method} {path} {body}: {answer}"
        );
    }
    for path in [
        "/api/v1/workspaces/a%00b".to_owned(),
        app.ws_path("/keys/x%00y"),
        app.ws_path("/keys?external_id=cus%00"),
    ] {
        let response = app.api(Method::GET, &path, secret).send().await.unwrap();
        let (status, answer) = status_and_json(response).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("validation_error")),
            "{path}: {answer}"
        );
    }
    // The controls: the same requests without the NUL.
    let (status, created) = app
        .call(
            Method::POST,
            &app.ws_path("/keys"),
            secret,
            Some(json!({ "name": "ab", "kind": "workspace" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app
        .call(
            Method::GET,
            &app.ws_path("/keys?external_id=cus"),
            secret,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, page) = app
        .call(Method::GET, &app.ws_path("/keys"), secret, None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(
        names.contains(&"ab") && !names.iter().any(|n| n.contains('\u{0}')),
        "{names:?}"
    );
}

crate::on_both_backends!(a_nul_anywhere_is_422_on_both_backends);
