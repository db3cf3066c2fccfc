//! Listing and ending sessions.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::{
    accounts::is_rfc3339_millis_utc,
    helpers::{TestApp, USER_AGENT, expect_error, expect_json},
    ws_helpers::{Ws, close_code},
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

/// While Redis is down the `session_revoked` event reaches no gateway: the
/// session's sockets close anyway, on every gateway, from the auth service's
/// record (the gateways ask it every second which sessions ended).
#[tokio::test]
async fn a_logout_closes_its_sockets_everywhere_even_when_its_event_is_lost() {
    let mut app = TestApp::start_cluster(2, 1, &[]).await;
    let ada = app.person("ada").await;
    let other_session = app.login_ok("ada").await;
    let (a, b) = (
        app.system.gateways[0].url.clone(),
        app.system.gateways[1].url.clone(),
    );
    let mut ended = [
        Ws::open(&a, &ada.token).await,
        Ws::open(&b, &ada.token).await,
    ];
    let mut kept = Ws::open(&b, &other_session).await;

    app.system.redis.stop().await;
    let res = app
        .request(Method::POST, "/api/auth/logout", Some(&ada.token))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for ws in &mut ended {
        let (frame, _) = tokio::time::timeout(CLOSE_WITHIN, ws.closed())
            .await
            .expect("the socket of the ended session closes");
        assert_eq!(close_code(&frame), Some(4001));
    }
    kept.ping().await;
}

/// A session that ends by its lifetime has no event: its sockets close too.
#[tokio::test]
async fn a_session_past_its_lifetime_closes_its_sockets() {
    let app = TestApp::start_with(&[("SESSION_LIFETIME_SECS", "3")]).await;
    let ada = app.person("ada").await;
    let mut ws = Ws::open(app.system.url(), &ada.token).await;
    let (frame, _) = tokio::time::timeout(Duration::from_secs(3) + CLOSE_WITHIN, ws.closed())
        .await
        .expect("the socket closes once the session expires");
    assert_eq!(close_code(&frame), Some(4001));
    expect_error(
        app.get("/api/me", &ada.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// The contract's 2 s, with room for a loaded test machine.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);
