//! A running system and typed helpers speaking the public API over HTTP.

use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
pub(crate) use totilove_testkit::PASSWORD;
use totilove_testkit::TestSystem;

pub(crate) const USER_AGENT: &str = "totilove-gateway-tests/1.0";

pub(crate) struct TestApp {
    pub system: TestSystem,
    pub http: reqwest::Client,
}

/// Someone registered and logged in.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: i64,
    pub username: String,
    pub token: String,
}

impl TestApp {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub(crate) async fn start_with(settings: &[(&str, &str)]) -> Self {
        Self::start_cluster(1, 1, settings).await
    }

    /// `gateways` gateway instances over `replicas` replicas of each service.
    pub(crate) async fn start_cluster(
        gateways: usize,
        replicas: usize,
        settings: &[(&str, &str)],
    ) -> Self {
        let system = TestSystem::start_cluster(gateways, replicas, settings).await;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { system, http }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.system.url())
    }

    /// A request with the bearer token, when given.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("the gateway answers")
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("the gateway answers")
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    pub(crate) async fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// A POST as if through a proxy that wrote `x_forwarded_for`.
    pub(crate) async fn post_via(
        &self,
        path: &str,
        x_forwarded_for: &str,
        body: &Value,
    ) -> Response {
        self.request(Method::POST, path, None)
            .header("x-forwarded-for", x_forwarded_for)
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    pub(crate) async fn register(&self, username: &str, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/register",
            None,
            &json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    /// Registers `username` (email `<username>@example.com`); their user id.
    pub(crate) async fn register_ok(&self, username: &str) -> i64 {
        let res = self
            .register(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        let body = expect_json(res, StatusCode::CREATED).await;
        body["user"]["id"].as_i64().expect("a user id")
    }

    pub(crate) async fn login(&self, login: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            None,
            &json!({"login": login, "password": password}),
        )
        .await
    }

    /// Logs `login` in with [`PASSWORD`]; the token.
    pub(crate) async fn login_ok(&self, login: &str) -> String {
        let body = expect_json(self.login(login, PASSWORD).await, StatusCode::OK).await;
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Registers and logs in `username`.
    pub(crate) async fn person(&self, username: &str) -> Person {
        let id = self.register_ok(username).await;
        let token = self.login_ok(username).await;
        Person {
            id,
            username: username.to_owned(),
            token,
        }
    }

    pub(crate) async fn block(&self, who: &Person, target: i64) -> Response {
        self.request(
            Method::POST,
            &format!("/api/users/{target}/block"),
            Some(&who.token),
        )
        .send()
        .await
        .expect("the gateway answers")
    }

    /// Stops one backend service, as an outage would; the rest keeps running.
    pub(crate) async fn stop(self, backend: Backend) -> Degraded {
        let TestSystem {
            auth,
            redis,
            message,
            presence,
            gateways,
            ..
        } = self.system;
        let (stopped, kept) = match backend {
            Backend::Auth => (auth, presence),
            Backend::Presence => (presence, auth),
        };
        for replica in stopped {
            replica.shutdown().await;
        }
        Degraded {
            http: self.http,
            base: gateways[0].url.clone(),
            _keep: (redis, message, kept, gateways),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Auth,
    Presence,
}

/// The rest of a system one of whose services is down.
pub(crate) struct Degraded {
    pub http: reqwest::Client,
    pub base: String,
    _keep: (
        totilove_testkit::RedisServer,
        Vec<totilove_testkit::Service>,
        Vec<totilove_testkit::Service>,
        Vec<totilove_testkit::Gateway>,
    ),
}

impl Degraded {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Asserts the status and returns the JSON body.
/// The `Retry-After` seconds of a response.
pub(crate) fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds")
}

pub(crate) async fn expect_json(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an error answer in the contract's shape; its message.
pub(crate) async fn expect_error(res: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "errors are JSON"
    );
    let body = expect_json(res, status).await;
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("a message in {body}"));
    assert!(!message.is_empty());
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only `error`: {body}"
    );
    message.to_owned()
}

/// Asserts 400 `invalid_request` whose message names `field`.
pub(crate) async fn expect_invalid(res: Response, field: &str) {
    let message = expect_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        message.contains(field),
        "the message names `{field}`: {message}"
    );
}

/// The value of `name` in a `Set-Cookie` header of `res`, with its attributes.
pub(crate) fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}
