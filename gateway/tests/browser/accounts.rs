//! Signing up (and a name already taken), logging in with a wrong password,
//! and a reload keeping the session.

use crate::{
    driver::{Scenario, Screen},
    page::Name,
    people::{PASSWORD, log_in, register, signed_in},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_a_friendly_login_error_and_a_reload_keeps_the_session() {
    Scenario::start("accounts")
        .await
        .run(async |s| {
            let ana = s.browser("ana", Screen::Desktop).await;
            register(&ana, "ana_b1").await;
            ana.reload().await;
            signed_in(&ana).await;

            let other = s.browser("ana-elsewhere", Screen::Desktop).await;
            // Someone else wants the same name: told so in words, by the field.
            other.click("button", Name::Is("Create an account")).await;
            other.type_in("Username", "ANA_b1").await;
            other.type_in("Email", "someone.else@example.com").await;
            other.type_in("Password", PASSWORD).await;
            other.click("button", Name::Is("Create account")).await;
            other
                .sees(None, "That username is taken. Please choose another one.")
                .await;
            other.click("button", Name::Is("Log in")).await;

            other.fill("Username or email", "ana_b1").await;
            other.fill("Password", "not the password").await;
            other.click("button", Name::Is("Log in")).await;
            let alert = other.find("alert", Name::Has("")).await;
            let said = alert.text().await.expect("the alert's text");
            assert!(
                said.starts_with(char::is_uppercase) && !said.contains("invalid login"),
                "the login error is the server's raw wording: {said:?}"
            );
            log_in(&other, "ANA_B1@example.com").await;
        })
        .await;
}
