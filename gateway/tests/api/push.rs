//! Web Push, end to end: a browser's subscription through the API, a message
//! to a person with no socket, and what a push service on this machine
//! receives — decrypted with the browser's own keys (RFC 8291) and its VAPID
//! token checked against the key the API gives (RFC 8292).

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    helpers::{Person, TestApp, expect_error, expect_invalid, expect_json},
    ws_helpers::Ws,
};

/// What the push service got.
struct Delivery {
    device: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A push service on 127.0.0.1: records every push, answers 201 (or 410 to
/// the devices named `gone-…`, as for an unsubscribed browser).
struct PushService {
    base: String,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
}

impl PushService {
    async fn start() -> Self {
        let (tx, deliveries) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/push/{device}", post(receive))
            .with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, deliveries }
    }

    /// The next push, or a panic after 10 s.
    async fn next(&mut self) -> Delivery {
        tokio::time::timeout(Duration::from_secs(10), self.deliveries.recv())
            .await
            .expect("a push within 10 s")
            .expect("the push service runs")
    }

    /// Panics if anything arrived, after waiting for `marker`'s push (sent
    /// after whatever must not be pushed, so its round has been done).
    async fn nothing_before(&mut self, marker: &str) {
        let delivery = self.next().await;
        assert_eq!(delivery.device, marker, "an unexpected push came first");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(self.deliveries.try_recv().is_err(), "an unexpected push");
    }
}

async fn receive(
    State(tx): State<mpsc::UnboundedSender<Delivery>>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let gone = device.starts_with("gone-");
    let _ = tx.send(Delivery {
        device,
        headers,
        body,
    });
    if gone {
        StatusCode::GONE
    } else {
        StatusCode::CREATED
    }
}

/// A browser's push keys.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Self {
        let mut rng = rand::rng();
        loop {
            let mut scalar = [0u8; 32];
            rng.fill_bytes(&mut scalar);
            if let Ok(secret) = p256::SecretKey::from_slice(&scalar) {
                let mut auth = [0u8; 16];
                rng.fill_bytes(&mut auth);
                return Self { secret, auth };
            }
        }
    }

    fn subscription(&self, endpoint: &str, previews: bool) -> Value {
        let public = self.secret.public_key().to_encoded_point(false);
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(public.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
            "previews": previews,
        })
    }

    fn decrypt(&self, body: &[u8]) -> Value {
        #[allow(deprecated)] // web-push-native's Auth is generic-array 0.14
        let auth = web_push_native::Auth::clone_from_slice(&self.auth);
        let plain = web_push_native::decrypt(body.to_vec(), &self.secret, &auth)
            .expect("a push encrypted for this browser");
        serde_json::from_slice(&plain).expect("a JSON payload")
    }
}

fn vapid_key() -> String {
    URL_SAFE_NO_PAD.encode(Browser::new().secret.to_bytes())
}

async fn start() -> (TestApp, PushService) {
    let key = vapid_key();
    let app = TestApp::start_with(&[
        ("VAPID_PRIVATE_KEY", key.as_str()),
        ("VAPID_SUBJECT", "mailto:ops@totilove.test"),
        ("PUSH_SERVICE_HOSTS", "127.0.0.1"),
    ])
    .await;
    (app, PushService::start().await)
}

async fn subscribe(app: &TestApp, who: &Person, subscription: &Value) {
    let res = app
        .put("/api/push/subscription", &who.token, subscription)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        res.text().await
    );
}

/// The VAPID token's claims, once its signature checks with `public_key`.
fn vapid_claims(headers: &HeaderMap, public_key: &str) -> Value {
    let header = headers["authorization"].to_str().expect("text");
    let rest = header
        .strip_prefix("vapid t=")
        .expect("a vapid authorization");
    let (token, k) = rest.split_once(", k=").expect("t= and k=");
    assert_eq!(k, public_key, "the key browsers subscribed with");
    let point = URL_SAFE_NO_PAD.decode(k).expect("base64url");
    let (x, y) = (&point[1..33], &point[33..65]);
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(x),
        &URL_SAFE_NO_PAD.encode(y),
    )
    .expect("a P-256 key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("a token signed with the VAPID key")
        .claims
}

#[tokio::test]
async fn a_message_to_someone_offline_is_pushed_encrypted_for_their_browser() {
    let (app, mut push) = start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let key = expect_json(app.get("/api/push/key", &bob.token).await, StatusCode::OK).await;
    let public_key = key["public_key"]
        .as_str()
        .expect("pushes are on")
        .to_owned();
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(&public_key)
            .expect("base64url")
            .len(),
        65
    );

    let browser = Browser::new();
    let endpoint = format!("{}/push/bob", push.base);
    subscribe(&app, &bob, &browser.subscription(&endpoint, true)).await;
    let sent = app.send_ok(&alice, bob.id, "hello <b>bob</b> مرحبا").await;

    let delivery = push.next().await;
    assert_eq!(delivery.device, "bob");
    assert_eq!(delivery.headers["content-encoding"], "aes128gcm");
    assert!(delivery.headers.contains_key("ttl"));
    let claims = vapid_claims(&delivery.headers, &public_key);
    assert_eq!(
        claims["aud"],
        push.base.as_str(),
        "the push service's origin"
    );
    assert_eq!(claims["sub"], "mailto:ops@totilove.test");
    let exp = claims["exp"].as_i64().expect("exp");
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "RFC 8292: at most 24 h"
    );

    let payload = browser.decrypt(&delivery.body);
    assert_eq!(
        payload,
        json!({
            "type": "message",
            "message_id": sent["id"],
            "sender_id": alice.id,
            "sender_name": "alice",
            "preview": "hello <b>bob</b> مرحبا",
        })
    );
}

#[tokio::test]
async fn without_previews_a_push_names_neither_the_sender_nor_the_text() {
    let (app, mut push) = start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let browser = Browser::new();
    let endpoint = format!("{}/push/bob", push.base);
    subscribe(&app, &bob, &browser.subscription(&endpoint, false)).await;
    let sent = app.send_ok(&alice, bob.id, "a secret").await;

    let payload = browser.decrypt(&push.next().await.body);
    assert_eq!(
        payload,
        json!({"type": "message", "message_id": sent["id"]})
    );
}

#[tokio::test]
async fn no_push_while_the_receiver_is_online_or_after_their_session_ended() {
    let (app, mut push) = start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;
    for (who, device) in [(&bob, "bob"), (&carol, "carol")] {
        let endpoint = format!("{}/push/{device}", push.base);
        subscribe(&app, who, &Browser::new().subscription(&endpoint, true)).await;
    }

    // Online: the socket shows the message, no push.
    let bob_ws = Ws::open(app.system.url(), &bob.token).await;
    app.send_ok(&alice, bob.id, "you are here").await;
    app.send_ok(&alice, carol.id, "marker").await;
    push.nothing_before("carol").await;
    bob_ws.close().await;

    // Logged out: the subscription ended with the session.
    let res = app
        .post("/api/auth/logout", Some(&carol.token), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let other = app.login_ok("carol").await;
    let carol = Person {
        token: other,
        ..carol
    };
    app.send_ok(&alice, carol.id, "nobody to push to").await;
    let dave = app.person("dave").await;
    let endpoint = format!("{}/push/dave", push.base);
    subscribe(&app, &dave, &Browser::new().subscription(&endpoint, true)).await;
    app.send_ok(&alice, dave.id, "marker").await;
    push.nothing_before("dave").await;
}

#[tokio::test]
async fn an_endpoint_the_push_service_calls_gone_is_forgotten() {
    let (app, mut push) = start().await;
    let alice = app.person("alice").await;
    let bob = app.person("bob").await;
    let carol = app.person("carol").await;
    let gone = format!("{}/push/gone-bob", push.base);
    subscribe(&app, &bob, &Browser::new().subscription(&gone, true)).await;
    let endpoint = format!("{}/push/carol", push.base);
    subscribe(&app, &carol, &Browser::new().subscription(&endpoint, true)).await;

    app.send_ok(&alice, bob.id, "first").await;
    assert_eq!(push.next().await.device, "gone-bob");
    // Answered 410: not asked again.
    app.send_ok(&alice, bob.id, "second").await;
    app.send_ok(&alice, carol.id, "marker").await;
    push.nothing_before("carol").await;
}

#[tokio::test]
async fn a_subscription_must_be_a_push_services_https_endpoint_with_valid_keys() {
    let (app, push) = start().await;
    let bob = app.person("bob").await;
    let browser = Browser::new();
    let good = browser.subscription(&format!("{}/push/bob", push.base), true);

    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        let mut slot = &mut body;
        for part in path.split('.') {
            slot = &mut slot[part];
        }
        *slot = value;
        body
    };
    for (body, field) in [
        (
            with("endpoint", json!("https://intranet.example/push")),
            "endpoint",
        ),
        (
            with("endpoint", json!("http://fcm.googleapis.com/x")),
            "endpoint",
        ),
        (with("endpoint", json!("not a url")), "endpoint"),
        (with("keys.p256dh", json!("!!")), "keys.p256dh"),
        (with("keys.p256dh", json!("AAAA")), "keys.p256dh"),
        (with("keys.auth", json!("AAAA")), "keys.auth"),
    ] {
        let res = app.put("/api/push/subscription", &bob.token, &body).await;
        expect_invalid(res, field).await;
    }
    let res = app
        .put(
            "/api/push/subscription",
            &bob.token,
            &json!({"endpoint": 1}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;

    for res in [
        app.get("/api/push/key", "").await,
        app.put("/api/push/subscription", "", &good).await,
        app.delete("/api/push/subscription", "").await,
    ] {
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app.delete("/api/push/subscription", &bob.token).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn without_a_vapid_key_pushes_are_off() {
    let app = TestApp::start().await;
    let bob = app.person("bob").await;
    let key = expect_json(app.get("/api/push/key", &bob.token).await, StatusCode::OK).await;
    assert_eq!(key, json!({"public_key": null}));
}
