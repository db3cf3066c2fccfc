//! Search, a person's page, profiles and blocks.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totilove_proto::presence::v1::{Connection, OpenConnectionRequest};

use crate::{
    helpers::{Backend, Person, TestApp, expect_error, expect_invalid, expect_json},
    ws_helpers::Ws,
};

fn usernames(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|hit| {
            hit["user"]["username"]
                .as_str()
                .expect("a username")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn search_matches_a_prefix_of_username_or_display_name_in_username_order() {
    let app = TestApp::start().await;
    let viewer = app.person("zed").await;
    for name in ["sam", "sally", "samantha", "bob", "tom"] {
        app.register_ok(name).await;
    }
    let bob = app.login_ok("bob").await;
    let res = app
        .put("/api/me/profile", &bob, &json!({"display_name": "Samwise"}))
        .await;
    expect_json(res, StatusCode::OK).await;

    let page = expect_json(
        app.get("/api/users?q=SA", &viewer.token).await,
        StatusCode::OK,
    )
    .await;
    let names = usernames(&page);
    assert_eq!(names.len(), 4, "{page}");
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "ordered by username");
    assert!(!names.contains(&"tom".to_owned()));
    assert!(page["next_cursor"].is_null());
    let bob_hit = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|h| h["user"]["username"] == "bob")
        .expect("bob, by display name");
    assert_eq!(bob_hit["user"]["display_name"], "Samwise");
    assert_eq!(bob_hit["online"], false);
    assert_eq!(
        bob_hit.as_object().map(|o| o.len()),
        Some(2),
        "{{user, online}}"
    );
}

#[tokio::test]
async fn search_pages_with_an_opaque_cursor_until_null() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    for name in ["pa1", "pa2", "pa3", "pa4"] {
        app.register_ok(name).await;
    }
    let first = expect_json(
        app.get("/api/users?q=pa&limit=3", &viewer.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(usernames(&first), ["pa1", "pa2", "pa3"]);
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    let mut url = reqwest::Url::parse(&app.url("/api/users")).expect("a URL");
    url.query_pairs_mut()
        .append_pair("q", "pa")
        .append_pair("limit", "3")
        .append_pair("cursor", &cursor);
    let res = app
        .http
        .get(url)
        .bearer_auth(&viewer.token)
        .send()
        .await
        .expect("an answer");
    let second = expect_json(res, StatusCode::OK).await;
    assert_eq!(usernames(&second), ["pa4"]);
    assert!(second["next_cursor"].is_null());
}

#[tokio::test]
async fn search_refuses_a_bad_limit() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    for limit in ["0", "101", "-1", "ten"] {
        let res = app
            .get(&format!("/api/users?q=a&limit={limit}"), &viewer.token)
            .await;
        expect_invalid(res, "limit").await;
    }
    let res = app.get("/api/users?limit=100", &viewer.token).await;
    expect_json(res, StatusCode::OK).await;
}

#[tokio::test]
async fn a_persons_page_shows_user_profile_and_presence() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    let rosa = app.person("rosa").await;
    let res = app
        .put(
            "/api/me/profile",
            &rosa.token,
            &json!({"display_name": "Rosa", "location": "Lyon"}),
        )
        .await;
    expect_json(res, StatusCode::OK).await;

    let body = expect_json(
        app.get(&format!("/api/users/{}", rosa.id), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        body["user"],
        json!({"id": rosa.id, "username": "rosa", "display_name": "Rosa"})
    );
    assert_eq!(body["profile"]["location"], "Lyon");
    assert!(body["profile"]["bio"].is_null());
    assert_eq!(body["online"], false);
    assert!(body.get("last_seen").is_some(), "{body}");
    assert!(body["user"].get("email").is_none());
}

#[tokio::test]
async fn someone_with_a_live_socket_shows_online() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    let sue = app.person("sue").await;
    app.system
        .presence_client()
        .open_connection(OpenConnectionRequest {
            max_per_person: 0,
            gateway_id: "test-gateway".into(),
            connection: Some(Connection {
                user_id: sue.id,
                connection_id: "test-connection".into(),
            }),
        })
        .await
        .expect("presence records the socket");

    let body = expect_json(
        app.get(&format!("/api/users/{}", sue.id), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["online"], true);
    let page = expect_json(
        app.get("/api/users?q=sue", &viewer.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["users"][0]["online"], true, "{page}");
}

#[tokio::test]
async fn ids_that_are_not_positive_i64_are_invalid_and_unknown_ones_not_found() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    for id in [
        "0",
        "-1",
        "abc",
        "1.5",
        "9223372036854775808",
        "99999999999999999999",
    ] {
        expect_invalid(
            app.get(&format!("/api/users/{id}"), &viewer.token).await,
            "id",
        )
        .await;
        let res = app
            .request(
                Method::POST,
                &format!("/api/users/{id}/block"),
                Some(&viewer.token),
            )
            .send()
            .await
            .expect("an answer");
        expect_invalid(res, "id").await;
        let res = app
            .delete(&format!("/api/users/{id}/block"), &viewer.token)
            .await;
        expect_invalid(res, "id").await;
    }
    for id in ["9223372036854775807", "123456"] {
        let res = app.get(&format!("/api/users/{id}"), &viewer.token).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app.block(&viewer, i64::MAX).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .delete(&format!("/api/users/{}/block", i64::MAX), &viewer.token)
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn visible(app: &TestApp, viewer: &Person, target: &Person) -> bool {
    let res = app
        .get(&format!("/api/users/{}", target.id), &viewer.token)
        .await;
    let found = match res.status() {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => false,
        other => panic!("unexpected {other}"),
    };
    let page = expect_json(
        app.get(&format!("/api/users?q={}", target.username), &viewer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        usernames(&page).contains(&target.username),
        found,
        "search agrees with the page"
    );
    found
}

#[tokio::test]
async fn a_block_hides_each_from_the_other_until_lifted() {
    let app = TestApp::start().await;
    let uma = app.person("uma").await;
    let vic = app.person("vic").await;
    assert!(visible(&app, &uma, &vic).await);

    assert_eq!(
        app.block(&uma, vic.id).await.status(),
        StatusCode::NO_CONTENT
    );
    // Idempotent.
    assert_eq!(
        app.block(&uma, vic.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!visible(&app, &uma, &vic).await);
    assert!(!visible(&app, &vic, &uma).await);

    let blocks = expect_json(app.get("/api/blocks", &uma.token).await, StatusCode::OK).await;
    assert_eq!(
        blocks,
        json!({"users": [{"id": vic.id, "username": "vic", "display_name": null}]})
    );
    let blocks = expect_json(app.get("/api/blocks", &vic.token).await, StatusCode::OK).await;
    assert_eq!(blocks, json!({"users": []}));

    let unblock = format!("/api/users/{}/block", vic.id);
    assert_eq!(
        app.delete(&unblock, &uma.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&unblock, &uma.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(visible(&app, &uma, &vic).await);
    assert!(visible(&app, &vic, &uma).await);
}

#[tokio::test]
async fn blocking_myself_is_invalid() {
    let app = TestApp::start().await;
    let walt = app.person("walt").await;
    let res = app.block(&walt, walt.id).await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_profile_update_keeps_absent_fields_and_clears_null_ones() {
    let app = TestApp::start().await;
    let xena = app.person("xena").await;
    let full = json!({
        "display_name": "Xena ✨",
        "bio": "مرحبا <b>hi</b>",
        "birthdate": "1990-05-17",
        "gender": "woman",
        "location": "Oslo",
        "avatar_url": "https://example.com/x.png",
    });
    let body = expect_json(
        app.put("/api/me/profile", &xena.token, &full).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, json!({"profile": full}));

    let res = app
        .put(
            "/api/me/profile",
            &xena.token,
            &json!({"bio": null, "location": "Bergen"}),
        )
        .await;
    let body = expect_json(res, StatusCode::OK).await;
    let mut expected = full.clone();
    expected["bio"] = Value::Null;
    expected["location"] = json!("Bergen");
    assert_eq!(body["profile"], expected);

    let me = expect_json(app.get("/api/me", &xena.token).await, StatusCode::OK).await;
    assert_eq!(me["profile"], expected);
    assert_eq!(me["user"]["display_name"], "Xena ✨");

    // An empty object changes nothing.
    let body = expect_json(
        app.put("/api/me/profile", &xena.token, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["profile"], expected);
}

#[tokio::test]
async fn a_profile_update_refuses_each_invalid_field_naming_it() {
    let app = TestApp::start().await;
    let yan = app.person("yan").await;
    let too_young = (chrono::Utc::now().date_naive() - chrono::Days::new(17 * 366))
        .format("%Y-%m-%d")
        .to_string();
    let cases = [
        (json!({"display_name": "d".repeat(51)}), "display_name"),
        (json!({"bio": "b".repeat(501)}), "bio"),
        (json!({"birthdate": "17/05/1990"}), "birthdate"),
        (json!({"birthdate": "1990-02-30"}), "birthdate"),
        (json!({"birthdate": too_young}), "birthdate"),
        (
            json!({"avatar_url": "http://example.com/a.png"}),
            "avatar_url",
        ),
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"bio": 5}), "bio"),
        (json!({"nickname": "x"}), "nickname"),
    ];
    for (body, field) in cases {
        expect_invalid(app.put("/api/me/profile", &yan.token, &body).await, field).await;
    }
    // Lengths are in characters: 50 emoji are a valid display name.
    let res = app
        .put(
            "/api/me/profile",
            &yan.token,
            &json!({"display_name": "😀".repeat(50)}),
        )
        .await;
    expect_json(res, StatusCode::OK).await;
}

#[tokio::test]
async fn people_routes_need_a_token() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/api/users"),
        (Method::GET, "/api/users/1"),
        (Method::POST, "/api/users/1/block"),
        (Method::DELETE, "/api/users/1/block"),
        (Method::GET, "/api/blocks"),
        (Method::GET, "/api/me"),
    ] {
        let res = app
            .request(method, path, None)
            .send()
            .await
            .expect("an answer");
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app
        .request(Method::PUT, "/api/me/profile", None)
        .json(&json!({}))
        .send()
        .await
        .expect("an answer");
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn with_presence_down_people_are_shown_offline() {
    let app = TestApp::start().await;
    let viewer = app.person("viewer").await;
    let tess = app.person("tess").await;
    let down = app.stop(Backend::Presence).await;

    let res = down
        .http
        .get(down.url(&format!("/api/users/{}", tess.id)))
        .bearer_auth(&viewer.token)
        .send()
        .await
        .expect("an answer");
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["online"], false);
    assert!(body["last_seen"].is_null());

    let res = down
        .http
        .get(down.url("/api/users?q=tess"))
        .bearer_auth(&viewer.token)
        .send()
        .await
        .expect("an answer");
    let page = expect_json(res, StatusCode::OK).await;
    assert_eq!(page["users"][0]["online"], false, "{page}");
}

/// `status` events do not cross a block: the sender is not told that the
/// person who blocked them (or whom they blocked) read their messages.
#[tokio::test]
async fn status_events_do_not_cross_a_block() {
    let app = TestApp::start().await;
    let ann = app.person("ann").await;
    let ben = app.person("ben").await;
    let mut anns = Ws::open(app.system.url(), &ann.token).await;
    let read = |up_to: &Value| json!({"with": ann.id, "up_to_id": up_to["id"]});

    let first = app.send_ok(&ann, ben.id, "one").await;
    let res = app
        .post("/api/messages/read", Some(&ben.token), &read(&first))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let status = anns.next_of("status").await;
    assert_eq!(status["status"], "read", "without a block, ann is told");

    let second = app.send_ok(&ann, ben.id, "two").await;
    assert_eq!(
        app.block(&ben, ann.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .post("/api/messages/read", Some(&ben.token), &read(&second))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    anns.expect_none_of("status", Duration::from_millis(1500))
        .await;
}

/// The conversation list keeps a blocked partner, shown offline however
/// online they are.
#[tokio::test]
async fn a_blocked_partner_is_listed_offline() {
    let app = TestApp::start().await;
    let ann = app.person("ann").await;
    let ben = app.person("ben").await;
    app.send_ok(&ben, ann.id, "hello").await;
    let _bens = Ws::open(app.system.url(), &ben.token).await;
    let online = || async {
        let body = expect_json(
            app.get("/api/conversations", &ann.token).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["conversations"][0]["user"]["id"], ben.id, "{body}");
        body["conversations"][0]["online"].clone()
    };
    assert_eq!(online().await, true);

    assert_eq!(
        app.block(&ann, ben.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(online().await, false);
}

#[tokio::test]
async fn blocks_unblocks_and_renames_reach_open_pages_at_once() {
    let app = TestApp::start().await;
    let ana = app.person("ana").await;
    let ben = app.person("ben").await;
    let cat = app.person("cat").await;
    app.send_ok(&ana, ben.id, "hi").await;
    let url = app.system.url();
    let (mut ana_ws, mut ben_ws, mut cat_ws) = (
        Ws::open(url, &ana.token).await,
        Ws::open(url, &ben.token).await,
        Ws::open(url, &cat.token).await,
    );

    // Ana's other pages learn whom she blocked; Ben, that she is not available.
    assert_eq!(
        app.block(&ana, ben.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ana_ws.next_of("blocks").await,
        json!({"type": "blocks", "user_id": ben.id, "blocked": true})
    );
    assert_eq!(
        ben_ws.next_of("availability").await,
        json!({"type": "availability", "user_id": ana.id, "available": false})
    );
    let res = app
        .delete(&format!("/api/users/{}/block", ben.id), &ana.token)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ana_ws.next_of("blocks").await,
        json!({"type": "blocks", "user_id": ben.id, "blocked": false})
    );
    assert_eq!(
        ben_ws.next_of("availability").await,
        json!({"type": "availability", "user_id": ana.id, "available": true})
    );

    // A rename reaches the people Ben talks with and his own pages, nobody else.
    let res = app
        .put(
            "/api/me/profile",
            &ben.token,
            &json!({"display_name": "Benjamin"}),
        )
        .await;
    expect_json(res, StatusCode::OK).await;
    let card = json!({"type": "profile", "user": {"id": ben.id, "username": "ben", "display_name": "Benjamin"}});
    assert_eq!(ana_ws.next_of("profile").await, card);
    assert_eq!(ben_ws.next_of("profile").await, card);
    cat_ws
        .expect_none_of("profile", Duration::from_millis(500))
        .await;
    // Only a new name is news: a bio is not.
    let res = app
        .put("/api/me/profile", &ben.token, &json!({"bio": "hello"}))
        .await;
    expect_json(res, StatusCode::OK).await;
    ana_ws
        .expect_none_of("profile", Duration::from_millis(500))
        .await;
}
