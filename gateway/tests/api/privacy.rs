//! Privacy settings: reading and changing them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, expect_error, expect_invalid, expect_json};

async fn privacy(app: &TestApp, who: &Person) -> Value {
    let res = app.get("/api/me/privacy", &who.token).await;
    expect_json(res, StatusCode::OK).await["privacy"].clone()
}

async fn set_privacy(app: &TestApp, who: &Person, body: Value) -> Value {
    let res = app.put("/api/me/privacy", &who.token, &body).await;
    expect_json(res, StatusCode::OK).await["privacy"].clone()
}

#[tokio::test]
async fn a_new_account_shows_its_presence_and_sends_read_receipts() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;
    assert_eq!(
        privacy(&app, &alice).await,
        json!({"show_online": true, "send_read_receipts": true})
    );
}

#[tokio::test]
async fn privacy_routes_need_a_token() {
    let app = TestApp::start().await;
    for method in [Method::GET, Method::PUT] {
        let res = app
            .request(method.clone(), "/api/me/privacy", None)
            .json(&json!({}))
            .send()
            .await
            .expect("the gateway answers");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_privacy_update_keeps_absent_fields_and_refuses_anything_but_booleans() {
    let app = TestApp::start().await;
    let alice = app.person("alice").await;

    let after = set_privacy(&app, &alice, json!({"show_online": false})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": true})
    );
    let after = set_privacy(&app, &alice, json!({"send_read_receipts": false})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": false})
    );
    let after = set_privacy(&app, &alice, json!({})).await;
    assert_eq!(
        after,
        json!({"show_online": false, "send_read_receipts": false})
    );
    let after = set_privacy(
        &app,
        &alice,
        json!({"show_online": true, "send_read_receipts": true}),
    )
    .await;
    assert_eq!(
        after,
        json!({"show_online": true, "send_read_receipts": true})
    );

    for (body, field) in [
        (json!({"show_online": null}), "show_online"),
        (json!({"show_online": "false"}), "show_online"),
        (json!({"send_read_receipts": 0}), "send_read_receipts"),
        (json!({"invisible": true}), "invisible"),
    ] {
        let res = app.put("/api/me/privacy", &alice.token, &body).await;
        expect_invalid(res, field).await;
    }
    let res = app
        .put("/api/me/privacy", &alice.token, &json!([true]))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Nothing refused was written.
    assert_eq!(
        privacy(&app, &alice).await,
        json!({"show_online": true, "send_read_receipts": true})
    );
}
