//! A private Redis server per test, so tests can flush, stop and restart it.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Where a snapshot taken by [`RedisServer::save`] is kept; a restart
    /// loads it (otherwise a restart starts empty).
    dir: std::path::PathBuf,
    /// Listening on TLS alone, with this certificate, key and CA (PEM).
    tls: Option<[PathBuf; 3]>,
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server that listens on TLS alone (no plain port), with the server
    /// certificate of `certs`; clients need not present one. Its
    /// [`url`](Self::url) is `rediss://127.0.0.1:PORT`, to be checked
    /// against `certs`' CA. [`save`](Self::save) speaks plain TCP: not here.
    pub async fn start_tls(certs: &crate::TestCerts) -> Self {
        Self::start_with(Some([certs.cert_file(), certs.key_file(), certs.ca_file()])).await
    }

    async fn start_with(tls: Option<[PathBuf; 3]>) -> Self {
        let port = free_port();
        let dir = crate::tls::temp_dir("redis");
        let mut server = Self {
            port,
            child: None,
            dir,
            tls,
        };
        server.launch().await;
        server
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would): every key is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts an empty server on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    async fn launch(&mut self) {
        let binary =
            std::env::var("TOTILOVE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        for _ in 0..50 {
            let mut command = Command::new(&binary);
            let port = self.port.to_string();
            match &self.tls {
                None => command.args(["--bind", "127.0.0.1", "--port", &port]),
                Some([cert, key, ca]) => command
                    .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    // (Redis wants a CA even when it asks clients for no certificate.)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no"]),
            };
            let child = command
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server runs (scripts/test installs it)");
            self.child = Some(child);
            let up = if self.tls.is_some() {
                self.listens().await
            } else {
                self.answers_ping().await
            };
            if up {
                return;
            }
            // The port may have been taken again in the meantime.
            self.stop().await;
            self.port = free_port();
        }
        panic!("could not start redis-server");
    }

    /// Takes a snapshot now (`SAVE`): the next restart comes back with
    /// exactly this data, as a Redis restored from an older backup would.
    pub async fn save(&self) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("Redis answers");
        s.write_all(b"SAVE\r\n").await.expect("SAVE sent");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.expect("SAVE answered");
        assert_eq!(&buf, b"+OK\r\n");
    }

    /// Whether our server is running and accepts TCP connections on its
    /// port (a TLS server's readiness, before any handshake: the tests check
    /// that part themselves).
    async fn listens(&mut self) -> bool {
        for _ in 0..100 {
            let running = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
            if !running {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn answers_ping(&self) -> bool {
        for _ in 0..100 {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut buf).await.is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
