//! Helpers for the people of a scenario: signing up and in through the page.

pub(crate) use totilove_testkit::PASSWORD;

use crate::page::{Browser, Name};

/// Creates an account through the sign-up form; ends signed in, on the app.
pub(crate) async fn register(browser: &Browser, username: &str) {
    browser.click("button", Name::Is("Create an account")).await;
    browser.type_in("Username", username).await;
    browser
        .type_in("Email", &format!("{username}@example.com"))
        .await;
    browser.type_in("Password", PASSWORD).await;
    browser.click("button", Name::Is("Create account")).await;
    signed_in(browser).await;
}

/// Logs in through the form; ends signed in.
pub(crate) async fn log_in(browser: &Browser, login: &str) {
    browser.fill("Username or email", login).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("button", Name::Is("Log in")).await;
    signed_in(browser).await;
}

/// The signed-in app is on screen: the conversation list's heading.
pub(crate) async fn signed_in(browser: &Browser) {
    browser.find("heading", Name::Is("Messages")).await;
}

/// Someone who uses Totilove from elsewhere (the API), to talk to the
/// person at the browser without a second browser.
pub(crate) struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    /// Registers and logs in `username` over the API.
    pub(crate) async fn register(base: &str, username: &str) -> Self {
        let http = reqwest::Client::new();
        let email = format!("{username}@example.com");
        let created = http
            .post(format!("{base}/api/auth/register"))
            .json(&serde_json::json!({"username": username, "email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(created.status(), 201, "registering {username}");
        let login: serde_json::Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"login": username, "password": PASSWORD}))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("a login answer");
        let token = login["token"].as_str().expect("a token").to_owned();
        Self {
            http,
            base: base.to_owned(),
            token,
        }
    }

    /// Sends `content` to the person whose username is `to`.
    pub(crate) async fn send(&self, to: &str, content: &str) {
        let found: serde_json::Value = self
            .http
            .get(format!("{}/api/users?q={to}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("search results");
        let id = found["users"]
            .as_array()
            .and_then(|hits| hits.iter().find(|h| h["user"]["username"] == to))
            .and_then(|h| h["user"]["id"].as_i64())
            .unwrap_or_else(|| panic!("{to} is found"));
        let sent = self
            .http
            .post(format!("{}/api/messages/send", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"to": id, "content": content, "client_msg_id": uuid::Uuid::new_v4()}))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(sent.status(), 201, "sending to {to}");
    }
}
