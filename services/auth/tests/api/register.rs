//! Register: the new card, each invalid field, names taken in any case.

use totilove_common::Code;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn registering_answers_the_new_persons_card() {
    let app = TestApp::start().await;
    let user = app
        .try_register("Alice_1.x-y", "alice@example.com", PASSWORD)
        .await
        .expect("registered");
    assert!(user.id > 0);
    assert_eq!(user.username, "Alice_1.x-y");
    assert_eq!(user.display_name, None);
    let events = app.audit_events().await;
    assert_eq!(events, vec![("register".to_owned(), Some(user.id))]);
}

#[tokio::test]
async fn each_invalid_field_is_refused_with_a_message_naming_it() {
    let app = TestApp::start().await;
    let long_password = "p".repeat(129);
    let long_username = "a".repeat(33);
    let long_email = format!("{}@example.com", "a".repeat(89));
    let cases = [
        ("ab", "a@example.com", PASSWORD, "username"),
        (
            long_username.as_str(),
            "a@example.com",
            PASSWORD,
            "username",
        ),
        ("al ice", "a@example.com", PASSWORD, "username"),
        ("alice@x", "a@example.com", PASSWORD, "username"),
        ("élodie", "a@example.com", PASSWORD, "username"),
        ("alice", "", PASSWORD, "email"),
        ("alice", "alice.example.com", PASSWORD, "email"),
        ("alice", "@example.com", PASSWORD, "email"),
        ("alice", "alice@localhost", PASSWORD, "email"),
        ("alice", "alice@@example.com", PASSWORD, "email"),
        ("alice", "al ice@example.com", PASSWORD, "email"),
        ("alice", "alice@example..com", PASSWORD, "email"),
        ("alice", long_email.as_str(), PASSWORD, "email"),
        ("alice", "a@example.com", "short", "password"),
        ("alice", "a@example.com", "", "password"),
        ("alice", "a@example.com", long_password.as_str(), "password"),
    ];
    for (username, email, password, field) in cases {
        let err = app
            .try_register(username, email, password)
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidRequest, "{username:?} {email:?}");
        assert!(err.message.contains(field), "{field}: {}", err.message);
    }
}

#[tokio::test]
async fn limits_count_characters_not_bytes() {
    let app = TestApp::start().await;
    // 8 characters, 32 bytes.
    let emoji_password = "🐱🐶🦊🐻🐼🐨🐯🦁";
    app.try_register("emoji", "emoji@example.com", emoji_password)
        .await
        .expect("8 characters are enough");
    let exactly_100 = format!("{}@example.com", "a".repeat(88));
    assert_eq!(exactly_100.chars().count(), 100);
    app.try_register("longmail", &exactly_100, PASSWORD)
        .await
        .expect("100 characters are allowed");
    let max_password = "é".repeat(128);
    app.try_register("maxpass", "maxpass@example.com", &max_password)
        .await
        .expect("128 characters are allowed");
}

#[tokio::test]
async fn a_username_or_email_taken_in_any_letter_case_is_a_conflict() {
    let app = TestApp::start().await;
    app.try_register("Alice", "alice@example.com", PASSWORD)
        .await
        .expect("registered");

    let err = app
        .try_register("aLICE", "other@example.com", PASSWORD)
        .await
        .expect_err("taken");
    assert_eq!(err.code, Code::Conflict);
    assert_eq!(err.message, "username is taken");

    let err = app
        .try_register("bob", "ALICE@Example.COM", PASSWORD)
        .await
        .expect_err("taken");
    assert_eq!(err.code, Code::Conflict);
    assert_eq!(err.message, "email is taken");
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_give_one_account_and_conflicts() {
    let app = TestApp::start().await;
    let attempts = (0..4).map(|i| {
        let email = format!("racer{i}@example.com");
        let name = if i % 2 == 0 { "Racer" } else { "racer" };
        let app = &app;
        async move { app.try_register(name, &email, PASSWORD).await }
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1);
    for err in results.into_iter().filter_map(Result::err) {
        assert_eq!(err.code, Code::Conflict);
        assert_eq!(err.message, "username is taken");
    }
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_a_refused_one_stores_nothing() {
    let app = TestApp::start_with(&[("REGISTER_LIMIT_PER_HOUR", "3")]).await;
    let here = "198.51.100.7";
    for name in ["ann", "ben"] {
        app.try_register_from(name, &format!("{name}@example.com"), PASSWORD, here)
            .await
            .expect("registered");
    }
    // A taken name counts too: probing which names are taken is registering.
    let err = app
        .try_register_from("ANN", "other@example.com", PASSWORD, here)
        .await
        .expect_err("taken");
    assert_eq!(err.code, Code::Conflict);

    let err = app
        .try_register_from("cat", "cat@example.com", PASSWORD, here)
        .await
        .expect_err("over the limit");
    assert_eq!(err.code, Code::RateLimited, "{err:?}");
    let retry_after = err.retry_after.expect("a retry-after");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.account_count().await,
        2,
        "the refused one stored nothing"
    );
    let registered = app.audit_events().await;
    assert_eq!(registered.len(), 2, "{registered:?}");

    // Counted in Redis, which every replica shares.
    assert_eq!(
        app.redis_get("registrations:address:198.51.100.7").await,
        Some("4".to_owned())
    );

    // Another address is not held back.
    app.try_register_from("cat", "cat@example.com", PASSWORD, "198.51.100.8")
        .await
        .expect("another address registers");
}

#[tokio::test]
async fn ipv6_registrations_are_counted_per_64() {
    let app = TestApp::start_with(&[("REGISTER_LIMIT_PER_HOUR", "1")]).await;
    app.try_register_from("ann", "ann@example.com", PASSWORD, "2001:db8:1:2::1")
        .await
        .expect("registered");
    let err = app
        .try_register_from("ben", "ben@example.com", PASSWORD, "2001:db8:1:2::ffff")
        .await
        .expect_err("the same /64");
    assert_eq!(err.code, Code::RateLimited);
    app.try_register_from("ben", "ben@example.com", PASSWORD, "2001:db8:1:3::1")
        .await
        .expect("another /64");
}
