//! `GET /api/openapi.json`: served to anyone, and true of the running gateway.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

async fn fetch_document(app: &TestApp) -> Value {
    let res = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    res.json().await.expect("JSON")
}

#[tokio::test]
async fn the_document_is_served_without_authentication() {
    let app = TestApp::start().await;
    let doc = fetch_document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .expect("a version")
            .starts_with("3.1.")
    );
    assert!(doc["paths"]["/api/messages/send"]["post"].is_object());
}

/// Every operation asked as a stranger would (no token, no body) answers a
/// status the document lists for it: the document cannot promise one set of
/// answers while the gateway gives another.
#[tokio::test]
async fn every_operation_answers_a_status_it_documents() {
    let app = TestApp::start().await;
    let doc = fetch_document(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut asked = 0;
    for (template, item) in paths {
        let path = template
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(m) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let res = app
                .http
                .request(m, app.url(&path))
                .send()
                .await
                .expect("an answer");
            let status = res.status().as_u16().to_string();
            let documented = operation["responses"].as_object().expect("responses");
            assert!(
                documented.contains_key(&status),
                "{method} {template} answered {status}, documented: {:?}",
                documented.keys().collect::<Vec<_>>()
            );
            asked += 1;
        }
    }
    assert!(asked >= 20, "asked {asked} operations");
}
