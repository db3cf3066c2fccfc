//! Listing and ending sessions.

use reqwest::{Method, StatusCode};

use crate::{
    accounts::is_rfc3339_millis_utc,
    helpers::{TestApp, USER_AGENT, expect_error, expect_json},
};

#[tokio::test]
async fn sessions_lists_mine_with_the_current_one_marked() {
    let app = TestApp::start().await;
    let kim = app.person("kim").await;
    let other = app.login_ok("kim").await;
    app.person("lee").await;

    let body = expect_json(app.get("/api/sessions", &kim.token).await, StatusCode::OK).await;
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "only kim's: {body}");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{body}"
    );
    for s in sessions {
        assert!(s["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(is_rfc3339_millis_utc(
            s["created_at"].as_str().expect("created_at")
        ));
        assert!(is_rfc3339_millis_utc(
            s["last_activity"].as_str().expect("last_activity")
        ));
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["user_agent"], USER_AGENT);
    }

    // From the other session, the other one is current.
    let body = expect_json(app.get("/api/sessions", &other).await, StatusCode::OK).await;
    let current: Vec<_> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["id"].clone())
        .collect();
    let first: Vec<_> = sessions
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(current.len(), 1);
    assert_ne!(current, first);
}

#[tokio::test]
async fn ending_another_session_kills_its_token_and_keeps_mine() {
    let app = TestApp::start().await;
    let mia = app.person("mia").await;
    let other = app.login_ok("mia").await;
    let body = expect_json(app.get("/api/sessions", &mia.token).await, StatusCode::OK).await;
    let other_id = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();

    let res = app
        .delete(&format!("/api/sessions/{other_id}"), &mia.token)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get("/api/me", &other).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_json(app.get("/api/me", &mia.token).await, StatusCode::OK).await;

    // Already ended: 404.
    let res = app
        .delete(&format!("/api/sessions/{other_id}"), &mia.token)
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn someone_elses_session_is_not_found_and_stays_alive() {
    let app = TestApp::start().await;
    let ned = app.person("ned").await;
    let oli = app.person("oli").await;
    let body = expect_json(app.get("/api/sessions", &oli.token).await, StatusCode::OK).await;
    let oli_session = body["sessions"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let res = app
        .delete(&format!("/api/sessions/{oli_session}"), &ned.token)
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    expect_json(app.get("/api/me", &oli.token).await, StatusCode::OK).await;
}

#[tokio::test]
async fn an_unknown_session_id_is_not_found() {
    let app = TestApp::start().await;
    let pat = app.person("pat").await;
    for id in [
        "does-not-exist",
        "00000000000000000000000000000000",
        "x".repeat(500).as_str(),
    ] {
        let res = app.delete(&format!("/api/sessions/{id}"), &pat.token).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn ending_my_current_session_logs_me_out() {
    let app = TestApp::start().await;
    let quinn = app.person("quinn").await;
    let body = expect_json(app.get("/api/sessions", &quinn.token).await, StatusCode::OK).await;
    let mine = body["sessions"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let res = app
        .delete(&format!("/api/sessions/{mine}"), &quinn.token)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get("/api/me", &quinn.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn sessions_need_a_token() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/api/sessions"),
        (Method::DELETE, "/api/sessions/abc"),
    ] {
        let res = app
            .request(method, path, None)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_token_survives_a_redis_restart_and_a_revoked_one_stays_dead() {
    let mut app = TestApp::start().await;
    let rae = app.person("rae").await;
    let ended = app.login_ok("rae").await;
    let res = app
        .request(Method::POST, "/api/auth/logout", Some(&ended))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Every key is lost.
    app.system.redis.restart().await;

    expect_json(app.get("/api/me", &rae.token).await, StatusCode::OK).await;
    expect_error(
        app.get("/api/me", &ended).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}
