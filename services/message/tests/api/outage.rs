//! PostgreSQL out of reach: sends answer 503 within seconds, never hang, and
//! nothing is acknowledged that was not committed.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use totilove_kit::Code;
use uuid::Uuid;

use crate::helpers::{App, Client, PATIENCE, another_message_service, code, send};

/// A TCP forwarder in front of PostgreSQL that can cut every connection and
/// refuse new ones, as an unreachable database would.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let (cut, cut_seen) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *cut_seen.borrow() {
                    continue; // dropped: the connection closes at once
                }
                let target = target.clone();
                let mut cut_seen = cut_seen.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_seen.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    fn cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// Another message service instance, reaching PostgreSQL through `proxy`.
async fn message_service_behind(app: &App, proxy: &Proxy) -> Client {
    let url = &app.system.database_url;
    let (scheme_user, rest) = url.split_once('@').expect("a URL with a user");
    let (_, database) = rest.split_once('/').expect("a URL with a database");
    let proxied = format!("{scheme_user}@{}/{database}", proxy.addr);
    another_message_service(
        app,
        &[("DATABASE_URL", &proxied), ("MESSAGE_DB_TIMEOUT_MS", "2000")],
    )
    .await
}

#[tokio::test]
async fn while_postgresql_is_unreachable_sends_answer_unavailable_and_nothing_is_stored() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let target = app
        .system
        .database_url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, _)| host.to_owned())
        .expect("host:port in the URL");
    let proxy = Proxy::start(target).await;
    let client = message_service_behind(&app, &proxy).await;
    let before = send(&client, alice, bob, "before", &Uuid::new_v4().to_string())
        .await
        .expect("stored while PostgreSQL is up");

    proxy.cut(true);
    let during = Uuid::new_v4().to_string();
    let attempts = futures::future::join_all((0..5).map(|i| {
        let client = client.clone();
        let id = if i == 0 { during.clone() } else { Uuid::new_v4().to_string() };
        async move {
            // The contract: an answer within 10 s, never a hang.
            tokio::time::timeout(Duration::from_secs(10), send(&client, alice, bob, "during", &id))
                .await
                .expect("an answer within 10 s")
        }
    }))
    .await;
    for attempt in attempts {
        assert_eq!(code(attempt).0, Code::Unavailable);
    }

    proxy.cut(false);
    // The same message again, once PostgreSQL is back: stored now, so it
    // was not stored before (created, not a retry of a stored one).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let retried = loop {
        match send(&client, alice, bob, "during", &during).await {
            Ok(answer) => break answer,
            Err(e) if e.code == Code::Unavailable && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the send fails after PostgreSQL is back: {e}"),
        }
    };
    assert!(retried.created);
    let history = app.whole_history(alice, bob).await;
    assert_eq!(
        history.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["before", "during"]
    );
    assert_eq!(history[0], before.message.expect("a message"));
}
