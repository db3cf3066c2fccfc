//! Both stores down: no check passes because no store could be asked.

use std::time::Duration;

use tokio::{net::TcpListener, task::JoinHandle};
use totilove_common::Code;
use totilove_testkit::TestSystem;

use crate::helpers::{PASSWORD, TestApp};

/// A TCP relay to PostgreSQL that the test can cut, as a database outage
/// would: existing connections drop and new ones are refused.
struct CuttableProxy {
    port: u16,
    task: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                relays.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, task }
    }

    /// Drops the listener and every relayed connection.
    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn with_postgresql_and_redis_both_down_validation_fails_closed() {
    totilove_testkit::init_logs();
    let database_url = totilove_testkit::fresh_database().await;
    let (prefix, rest) = database_url.split_once('@').expect("a URL with a host");
    let (host_port, db_name) = rest.split_once('/').expect("a URL with a database");
    let proxy = CuttableProxy::start(host_port.to_owned()).await;
    let proxied = format!("{prefix}@127.0.0.1:{}/{db_name}", proxy.port);
    let system = TestSystem::builder()
        .auth()
        .settings(&[("DATABASE_URL", proxied.as_str())])
        .build()
        .await;
    let mut app = TestApp {
        auth: system.auth_client(),
        system,
    };

    let alice = app.register("alice").await;
    let session = app.login(&alice).await;
    app.validate(&session.token).await.expect("valid");

    app.system.redis.stop().await;
    proxy.cut().await;

    let err = tokio::time::timeout(Duration::from_secs(9), app.validate(&session.token))
        .await
        .expect("an answer, not a hang")
        .expect_err("no store could be asked");
    assert_eq!(err.code, Code::Unavailable);
    let err = app
        .try_login("alice", PASSWORD, "192.0.2.1")
        .await
        .expect_err("no store could be asked");
    assert_eq!(err.code, Code::Unavailable);
}
