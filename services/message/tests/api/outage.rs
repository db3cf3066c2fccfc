//! PostgreSQL out of reach: sends answer 503 within seconds, never hang, and
//! nothing is acknowledged that was not committed; a full send queue refuses
//! at once.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use totilove_common::Code;
use totilove_testkit::eventually;
use uuid::Uuid;

use crate::helpers::{App, Client, another_message_service, code, send};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// Connections are cut and new ones closed at once (a stopped server).
    Refused,
    /// Connections stay open but nothing goes through (a network partition).
    Hung,
}

/// A TCP forwarder in front of PostgreSQL whose link can fail.
struct Proxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let (link, state) = watch::channel(Link::Up);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let mut state = state.clone();
                tokio::spawn(async move {
                    // While hung, hold the connection silently; once the link
                    // changes, drop it.
                    let link = *state.borrow_and_update();
                    match link {
                        Link::Refused => return,
                        Link::Hung => {
                            let _ = state.changed().await;
                            return;
                        }
                        Link::Up => {}
                    }
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let link = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => None,
                        link = state.wait_for(|link| *link != Link::Up) => link.ok().map(|l| *l),
                    };
                    if link == Some(Link::Hung) {
                        // Nothing is copied any more; the sockets stay open.
                        let _ = state.changed().await;
                    }
                });
            }
        });
        Self { addr, link }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

/// A proxy in front of the test's PostgreSQL, and another message service
/// instance reaching PostgreSQL through it (with `settings`).
async fn message_service_behind_proxy(app: &App, settings: &[(&str, &str)]) -> (Proxy, Client) {
    let url = &app.system.database_url;
    let (scheme_user, rest) = url.split_once('@').expect("a URL with a user");
    let (host, database) = rest.split_once('/').expect("a URL with a database");
    let proxy = Proxy::start(host.to_owned()).await;
    let proxied = format!("{scheme_user}@{}/{database}", proxy.addr);
    let mut settings = settings.to_vec();
    settings.push(("DATABASE_URL", &proxied));
    settings.push(("MESSAGE_DB_TIMEOUT_MS", "2000"));
    let client = another_message_service(app, &settings).await;
    (proxy, client)
}

/// Sends during the outage answer 503 in time; afterwards the same message
/// is stored as new, so it was not stored during the outage.
async fn nothing_is_acknowledged_while(link: Link) {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let (proxy, client) = message_service_behind_proxy(&app, &[]).await;
    let before = send(&client, alice, bob, "before", &Uuid::new_v4().to_string())
        .await
        .expect("stored while PostgreSQL is up");

    proxy.set(link);
    let during = Uuid::new_v4().to_string();
    let attempts = futures::future::join_all((0..5).map(|i| {
        let client = client.clone();
        let id = if i == 0 {
            during.clone()
        } else {
            Uuid::new_v4().to_string()
        };
        async move {
            // The contract: an answer within 10 s, never a hang.
            let attempt = send(&client, alice, bob, "during", &id);
            tokio::time::timeout(Duration::from_secs(10), attempt)
                .await
                .expect("an answer within 10 s")
        }
    }))
    .await;
    for attempt in attempts {
        assert_eq!(code(attempt).0, Code::Unavailable);
    }

    proxy.set(Link::Up);
    let retried = eventually("sends to work once PostgreSQL is back", || async {
        match send(&client, alice, bob, "during", &during).await {
            Err(e) if e.code == Code::Unavailable => Err(e),
            other => Ok(other.expect("only unavailable while PostgreSQL comes back")),
        }
    })
    .await;
    assert!(retried.created, "not stored during the outage");
    let history = app.whole_history(alice, bob).await;
    let contents: Vec<&str> = history.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["before", "during"]);
    assert_eq!(history[0], before.message.expect("a message"));
}

#[tokio::test]
async fn while_postgresql_refuses_connections_sends_answer_unavailable_and_store_nothing() {
    nothing_is_acknowledged_while(Link::Refused).await;
}

#[tokio::test]
async fn while_postgresql_hangs_sends_answer_unavailable_in_time_and_store_nothing() {
    nothing_is_acknowledged_while(Link::Hung).await;
}

#[tokio::test]
async fn a_full_send_queue_refuses_at_once_rather_than_growing() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let (proxy, client) = message_service_behind_proxy(&app, &[("MESSAGE_SEND_QUEUE", "1")]).await;
    send(&client, alice, bob, "warm up", &Uuid::new_v4().to_string())
        .await
        .expect("stored while PostgreSQL is up");

    // The writer waits on a silent database: one send waits in the queue,
    // the rest are refused at once.
    proxy.set(Link::Hung);
    let answers = futures::future::join_all((0..20).map(|i| {
        let client = client.clone();
        let content = format!("n{i}");
        async move { send(&client, alice, bob, &content, &Uuid::new_v4().to_string()).await }
    }))
    .await;

    let refusals: Vec<String> = answers
        .into_iter()
        .map(|answer| {
            let (code, message) = code(answer);
            assert_eq!(code, Code::Unavailable);
            message
        })
        .collect();
    let overloaded = refusals.iter().filter(|m| m.contains("overloaded")).count();
    assert!(overloaded >= 18, "{refusals:?}");
    proxy.set(Link::Up);
    assert_eq!(app.whole_history(alice, bob).await.len(), 1);
}
