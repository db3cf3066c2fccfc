//! A private Redis server per test, so tests can flush, stop and restart it.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Where a snapshot taken by [`RedisServer::save`] is kept; a restart
    /// loads it (otherwise a restart starts empty).
    dir: std::path::PathBuf,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "totilove-redis-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("a folder for the snapshot");
        let mut server = Self {
            port,
            child: None,
            dir,
        };
        server.launch().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
            let child = Command::new(&binary)
                .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server runs (scripts/test installs it)");
            self.child = Some(child);
            if self.answers_ping().await {
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
