//! Helpers for the people of a scenario: signing up and in through the page.

use crate::page::{Browser, Name};

/// Every account of these tests has this password.
pub const PASSWORD: &str = "correct horse battery";

/// Creates an account through the sign-up form; ends signed in, on the app.
pub async fn register(browser: &Browser, username: &str) {
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
pub async fn log_in(browser: &Browser, login: &str) {
    browser.fill("Username or email", login).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("button", Name::Is("Log in")).await;
    signed_in(browser).await;
}

/// The signed-in app is on screen: the conversation list's heading.
pub async fn signed_in(browser: &Browser) {
    browser.find("heading", Name::Is("Messages")).await;
}
