//! TLS to the stores: the whole system (gateway, auth, message, presence)
//! runs on a PostgreSQL that accepts TLS connections alone and a Redis that
//! listens on TLS alone, both with certificates of a CA this test makes, the
//! clients checking them (`sslmode=verify-full` + `sslrootcert`, `rediss://`
//! + `REDIS_CA_FILE`); and what is not protected, or not checked, is refused.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};
use totilove_common::redis::{Target, connect, serves};
use totilove_testkit::{
    PASSWORD, RedisServer, TestCerts, TestSystem, TlsPostgres, eventually_within,
    fresh_database_in, tls::verify_full,
};

#[tokio::test]
async fn the_system_runs_on_stores_that_require_tls() {
    let certs = TestCerts::generate();
    let postgres = TlsPostgres::start(&certs);
    let database_url = fresh_database_in(&postgres.admin_url(&certs)).await;
    assert!(database_url.contains("sslmode=verify-full&sslrootcert="));
    let redis = RedisServer::start_tls(&certs).await;
    assert!(redis.url().starts_with("rediss://127.0.0.1:"));

    let system = TestSystem::start_cluster_on(
        database_url.clone(),
        redis,
        1,
        1,
        &[("REDIS_CA_FILE", &certs.ca())],
    )
    .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", system.url());

    // Ready: the gateway reaches every service, and they their stores.
    let body = eventually_within(
        Duration::from_secs(15),
        "the system to be ready",
        || async {
            let res = http.get(url("/readyz")).send().await.expect("an answer");
            let ok = res.status() == reqwest::StatusCode::OK;
            let body: Value = res.json().await.expect("JSON");
            if ok { Ok(body) } else { Err(body) }
        },
    )
    .await;
    assert_eq!(
        body,
        json!({"ready": true, "checks": {"auth": "ok", "message": "ok", "presence": "ok", "postgres": "ok", "redis": "ok"}})
    );

    // Accounts and sessions (auth: PostgreSQL and its Redis cache)...
    let mut people = Vec::new();
    for name in ["alice", "bob"] {
        let res = http
            .post(url("/api/auth/register"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .expect("an answer");
        assert_eq!(
            res.status(),
            reqwest::StatusCode::CREATED,
            "register {name}"
        );
        let id = res.json::<Value>().await.expect("JSON")["user"]["id"]
            .as_i64()
            .expect("an id");
        let res = http
            .post(url("/api/auth/login"))
            .json(&json!({"login": name, "password": PASSWORD}))
            .send()
            .await
            .expect("an answer");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "login {name}");
        let token = res.json::<Value>().await.expect("JSON")["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        people.push((id, token));
    }
    let [(alice, alice_token), (bob, bob_token)] = <[_; 2]>::try_from(people).expect("two");

    // ... a live message (message service: PostgreSQL; fan-out through
    // Redis pub/sub to the gateway's subscriber connection)...
    let ws_url = format!("{}/ws", system.url().replacen("http://", "ws://", 1));
    let mut request = ws_url.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {bob_token}").parse().expect("a header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("bob's socket opens");
    assert_eq!(next_event(&mut ws).await["type"], "ready");
    let res = http
        .post(url("/api/messages/send"))
        .bearer_auth(&alice_token)
        .json(&json!({"to": bob, "content": "over TLS", "client_msg_id": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let live = loop {
        let event = next_event(&mut ws).await;
        if event["type"] == "message" {
            break event;
        }
    };
    assert_eq!(live["message"]["content"], "over TLS");
    assert_eq!(live["message"]["sender_id"], alice);

    // ... and history (message service, PostgreSQL).
    let res = http
        .get(url(&format!("/api/messages/{bob}/{alice}")))
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let history = res.json::<Value>().await.expect("JSON");
    assert_eq!(history["messages"][0]["content"], "over TLS");

    // Every connection of the services to their database is encrypted.
    let mut conn = sqlx::PgConnection::connect(&database_url)
        .await
        .expect("the test connects as the services do");
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE s.ssl) AS "encrypted!", count(*) FILTER (WHERE NOT s.ssl) AS "plain!"
           FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
          WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"#,
    )
    .fetch_one(&mut conn)
    .await
    .expect("the connection statistics");
    let (encrypted, plain) = (counts.encrypted, counts.plain);
    assert!(
        encrypted >= 2,
        "auth and message are connected: {encrypted}"
    );
    assert_eq!(plain, 0);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The socket's next event (pings answered); fails after 10 s.
async fn next_event(ws: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
            Ok(Some(Ok(Message::Ping(p)))) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no event: {other:?}"),
        }
    }
}

#[tokio::test]
async fn plain_or_unchecked_connections_are_refused() {
    totilove_testkit::init_logs();
    let certs = TestCerts::generate();
    let postgres = TlsPostgres::start(&certs);
    let redis = RedisServer::start_tls(&certs).await;
    let port = redis.port();

    // PostgreSQL: the checked connection works...
    let checked = postgres.url("postgres", &verify_full(&certs));
    sqlx::PgConnection::connect(&checked)
        .await
        .expect("verify-full with the test CA connects");
    // ... one without TLS is refused by the server ...
    let err = sqlx::PgConnection::connect(&postgres.url("postgres", "?sslmode=disable"))
        .await
        .expect_err("a plain connection is refused");
    assert!(
        err.to_string().contains("no encryption"),
        "refused by pg_hba.conf: {err}"
    );
    // ... one that does not know the CA refuses the server ...
    let err = sqlx::PgConnection::connect(&postgres.url("postgres", "?sslmode=verify-full"))
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        err.to_string().to_lowercase().contains("unknown"),
        "the chain is checked: {err}"
    );
    // ... and so does one that reaches it by a name its certificate does not
    // bear (`localhost`; verify-ca, which skips the name, connects).
    let by_name = |query: String| {
        format!(
            "postgres://totilove@localhost:{}/postgres{query}",
            postgres.port()
        )
    };
    let err = sqlx::PgConnection::connect(&by_name(verify_full(&certs)))
        .await
        .expect_err("a wrong name is refused");
    assert!(
        err.to_string().to_lowercase().contains("name"),
        "the host name is checked: {err}"
    );
    let verify_ca = verify_full(&certs).replace("verify-full", "verify-ca");
    sqlx::PgConnection::connect(&by_name(verify_ca))
        .await
        .expect("verify-ca connects by any name");

    // Redis, through the pool every service uses: checked TLS serves...
    let checked = Target {
        url: redis.url(),
        ca_file: Some(certs.ca_file()),
    };
    let pool = connect(&checked, 1).await.expect("a pool");
    assert!(serves(&pool).await, "rediss:// with the test CA serves");
    // ... a plain connection to the TLS port does not ...
    let pool = connect(&Target::plain(format!("redis://127.0.0.1:{port}")), 1)
        .await
        .expect("a pool");
    assert!(
        !serves(&pool).await,
        "redis:// to a TLS port does not serve"
    );
    // ... nor TLS without the CA (the system's roots do not hold it) ...
    let unknown_ca = Target::plain(redis.url());
    let pool = connect(&unknown_ca, 1).await.expect("a pool");
    assert!(!serves(&pool).await, "an unknown CA is refused");
    let why = refusal(&unknown_ca).await;
    assert!(why.contains("UnknownIssuer"), "the chain is checked: {why}");
    // ... nor by a name the certificate does not bear.
    let wrong_name = Target {
        url: format!("rediss://localhost:{port}"),
        ca_file: Some(certs.ca_file()),
    };
    let pool = connect(&wrong_name, 1).await.expect("a pool");
    assert!(!serves(&pool).await, "a wrong name is refused");
    let why = refusal(&wrong_name).await;
    assert!(
        why.contains("NotValidForName"),
        "the name is checked: {why}"
    );
}

/// Why one client with `target`'s settings (the kit's, TLS included) cannot
/// connect: the error of its first attempt.
async fn refusal(target: &Target) -> String {
    use fred::interfaces::ClientLike as _;
    let client = fred::types::Builder::from_config(target.config().expect("valid settings"))
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(2))
        .build()
        .expect("a client");
    let error = client.init().await.expect_err("the connection is refused");
    format!("{error:?}")
}
