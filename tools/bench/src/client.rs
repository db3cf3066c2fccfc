//! The API as the bench uses it: accounts, REST send, WebSocket frames.

use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone)]
pub(crate) struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

pub(crate) struct Account {
    pub id: i64,
    pub username: String,
    pub token: String,
}

impl Api {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// Registers `username` (password `bench-password`) and logs in.
    pub(crate) async fn account(&self, username: &str) -> anyhow::Result<Account> {
        let (status, body) = self
            .post(
                "/api/auth/register",
                None,
                &json!({"username": username, "email": format!("{username}@bench.example"), "password": "bench-password"}),
            )
            .await?;
        if status != 201 && status != 409 {
            bail!("register {username}: {status} {body}");
        }
        let token = self.login(username).await?;
        let (_, me) = self.get("/api/me", &token).await?;
        let id = me["user"]["id"]
            .as_i64()
            .context("/api/me gives the user id")?;
        Ok(Account {
            id,
            username: username.to_owned(),
            token,
        })
    }

    pub(crate) async fn login(&self, username: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/api/auth/login",
                None,
                &json!({"login": username, "password": "bench-password"}),
            )
            .await?;
        if status != 200 {
            bail!("login {username}: {status} {body}");
        }
        Ok(body["token"]
            .as_str()
            .context("login gives a token")?
            .to_owned())
    }

    pub(crate) async fn socket(&self, token: &str) -> anyhow::Result<Socket> {
        let url = format!("{}/ws", self.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request()?;
        req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let (mut ws, _) = connect_async(req).await?;
        // The first frame is `ready`.
        let ready = next_event(&mut ws).await?;
        if ready["type"] != "ready" {
            bail!("expected ready, got {ready}");
        }
        Ok(ws)
    }
}

/// The next JSON event, skipping control frames.
pub(crate) async fn next_event(ws: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match ws.next().await.context("socket closed")?? {
            Message::Text(t) => return Ok(serde_json::from_str(&t)?),
            Message::Close(c) => bail!("socket closed: {c:?}"),
            _ => continue,
        }
    }
}
