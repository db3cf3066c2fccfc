//! Web Push: after a commit, a notification to every browser subscription of
//! a receiver who has no live socket (RFC 8030), its payload encrypted for
//! that browser (RFC 8291) and the request signed with our VAPID key (RFC
//! 8292). Off the hot path: the writer hands each committed batch over
//! without waiting ([`Pusher::offer`]); a full queue drops pushes, never
//! messages.
//!
//! Per round of batches: one Redis round trip asking which receivers may
//! have a subscription (the auth service's copy) and which are online (the
//! presence service's set); only for people in the first and not the second,
//! one call for their subscriptions (auth). A person who chose no previews
//! gets a push without the sender or the text.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use fred::{clients::Pool, interfaces::SetsInterface};
use futures::StreamExt;
use http::{StatusCode, header};
use http_body_util::Full;
use p256::{elliptic_curve::sec1::ToEncodedPoint, pkcs8::EncodePrivateKey};
use serde::Serialize;
use tokio::{sync::mpsc, task::JoinHandle};
use totilove_common::{
    config::Secret,
    grpc::{Intercepted, Outbound},
    redis::{ONLINE_PEOPLE_KEY, PUSH_PEOPLE_KEY},
};
use totilove_proto::auth::v1::{
    self as auth, DeletePushSubscriptionRequest, GetUsersRequest, PushTargetsRequest,
    auth_service_client::AuthServiceClient,
};

use crate::domain::Message;

/// Characters of a message's text a preview shows, at most.
const PREVIEW_CHARS: usize = 120;
/// Pushes in flight at once.
const CONCURRENCY: usize = 16;
/// People asked about in one `PushTargets` call (the auth service's bound).
const MAX_TARGET_PEOPLE: usize = 1000;
/// How long a push service has to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A VAPID token's life (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME_SECS: u64 = 12 * 3600;

/// What `Config` says about pushes; `None` key: no pushes at all.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// The VAPID private key (`VAPID_PRIVATE_KEY`): a P-256 scalar, 32
    /// bytes in base64url.
    pub key: Option<Secret>,
    /// Who push services may contact (`VAPID_SUBJECT`, `mailto:` or `https:`).
    pub subject: String,
    /// How long a push service keeps a push for a device that is away
    /// (`PUSH_TTL_SECS`).
    pub ttl: Duration,
    /// Committed batches waiting for their pushes (`PUSH_QUEUE`).
    pub queue: usize,
}

/// The VAPID key pair.
struct Vapid {
    signing: jsonwebtoken::EncodingKey,
    /// The uncompressed public point in base64url: what browsers subscribe
    /// with and what each request names (`k=`).
    public: String,
    subject: String,
}

impl Vapid {
    fn parse(key: &Secret, subject: &str) -> anyhow::Result<Self> {
        let raw = URL_SAFE_NO_PAD
            .decode(key.expose().trim().trim_end_matches('='))
            .map_err(|_| anyhow::anyhow!("setting VAPID_PRIVATE_KEY must be base64url"))?;
        let secret = p256::SecretKey::from_slice(&raw).map_err(|_| {
            anyhow::anyhow!("setting VAPID_PRIVATE_KEY must be a P-256 private key (32 bytes)")
        })?;
        anyhow::ensure!(
            subject.starts_with("mailto:") || subject.starts_with("https://"),
            "setting VAPID_SUBJECT must be a mailto: or https: URL"
        );
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("VAPID key: {e}"))?;
        let public = secret.public_key().to_encoded_point(false);
        Ok(Self {
            signing: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
            public: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            subject: subject.to_owned(),
        })
    }

    /// The `Authorization` header for a push service at `audience` (its origin).
    fn authorization(&self, audience: &str) -> Result<String, jsonwebtoken::errors::Error> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let exp = chrono::Utc::now().timestamp().max(0) as u64 + TOKEN_LIFETIME_SECS;
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &Claims {
                aud: audience,
                exp,
                sub: &self.subject,
            },
            &self.signing,
        )?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

/// One committed message, as much of it as a push may need.
struct Pending {
    id: i64,
    sender_id: i64,
    receiver_id: i64,
    preview: String,
}

/// The writer's side: hands batches to the push task. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Pusher {
    queue: Option<mpsc::Sender<Vec<Pending>>>,
    public_key: Option<Arc<str>>,
}

impl Pusher {
    /// No pushes, when no VAPID key is set; otherwise starts the push task.
    pub(crate) fn start(
        settings: &PushSettings,
        redis: Pool,
        auth_url: &str,
        token: &Secret,
    ) -> anyhow::Result<(Self, Option<JoinHandle<()>>)> {
        let Some(key) = &settings.key else {
            return Ok((Self::default(), None));
        };
        let vapid = Vapid::parse(key, &settings.subject)?;
        let http = http_client()?;
        let public_key: Arc<str> = vapid.public.as_str().into();
        let worker = Worker {
            vapid: Arc::new(vapid),
            http,
            redis,
            auth: AuthServiceClient::with_interceptor(
                totilove_common::grpc::counted_channel(auth_url)?,
                Outbound::new(token)?,
            ),
            ttl: settings.ttl,
        };
        let (queue, batches) = mpsc::channel(settings.queue.max(1));
        let task = tokio::spawn(run(batches, worker));
        let pusher = Self {
            queue: Some(queue),
            public_key: Some(public_key),
        };
        Ok((pusher, Some(task)))
    }

    /// The key browsers subscribe with; `None` when pushes are off.
    pub(crate) fn public_key(&self) -> Option<&str> {
        self.public_key.as_deref()
    }

    /// Queues pushes for a committed batch, without waiting.
    pub(crate) fn offer(&self, messages: &[Message]) {
        let Some(queue) = &self.queue else {
            return;
        };
        let pending = messages
            .iter()
            .map(|m| Pending {
                id: m.id,
                sender_id: m.sender_id,
                receiver_id: m.receiver_id,
                preview: m.content.chars().take(PREVIEW_CHARS).collect(),
            })
            .collect();
        if queue.try_send(pending).is_err() {
            metrics::counter!("totilove_push_total", "result" => "dropped")
                .increment(messages.len() as u64);
        }
    }
}

type AuthClient = AuthServiceClient<Intercepted>;
type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// HTTPS to the push services, with the system's roots; plain http only
/// reaches the loopback push services that tests run (the auth service
/// accepts no other http endpoint). Redirects are not followed.
fn http_client() -> anyhow::Result<HttpClient> {
    #[allow(deprecated)] // the ring provider has no post-quantum key exchange
    let provider = rustls::crypto::ring::default_provider();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

struct Worker {
    vapid: Arc<Vapid>,
    http: HttpClient,
    redis: Pool,
    auth: AuthClient,
    ttl: Duration,
}

/// What a service worker receives, decrypted (`gateway/ui/sw.js`).
#[derive(Serialize)]
struct Payload<'a> {
    r#type: &'static str,
    message_id: i64,
    /// With previews only.
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview: Option<&'a str>,
}

async fn run(mut batches: mpsc::Receiver<Vec<Pending>>, worker: Worker) {
    let mut round = Vec::new();
    while batches.recv_many(&mut round, 64).await > 0 {
        let pending: Vec<Pending> = round.drain(..).flatten().collect();
        if let Err(e) = worker.push_round(pending).await {
            tracing::warn!(error = %e, "pushes of a round were not sent");
            metrics::counter!("totilove_push_total", "result" => "skipped").increment(1);
        }
    }
}

impl Worker {
    #[tracing::instrument(name = "Push to offline people", skip_all, fields(messages = pending.len()))]
    async fn push_round(&self, pending: Vec<Pending>) -> anyhow::Result<()> {
        // The newest message of each pair: one notification per conversation.
        let mut newest: HashMap<(i64, i64), Pending> = HashMap::new();
        for p in pending {
            newest.insert((p.receiver_id, p.sender_id), p);
        }
        let mut receivers: Vec<i64> = newest.keys().map(|k| k.0).collect();
        receivers.sort_unstable();
        receivers.dedup();
        let offline = self.offline_subscribers(receivers).await?;
        if offline.is_empty() {
            return Ok(());
        }
        let mut targets = Vec::new();
        for people in offline.chunks(MAX_TARGET_PEOPLE) {
            let found = self
                .auth
                .clone()
                .push_targets(PushTargetsRequest {
                    user_ids: people.to_vec(),
                })
                .await?
                .into_inner()
                .targets;
            targets.extend(found);
        }
        let names = self.sender_names(&newest, &targets).await;
        let mut sends = Vec::new();
        for message in newest.values() {
            for target in &targets {
                if let Some(s) = &target.subscription
                    && target.user_id == message.receiver_id
                {
                    sends.push((message, s, target.user_id));
                }
            }
        }
        futures::stream::iter(sends)
            .for_each_concurrent(CONCURRENCY, |(message, subscription, user)| {
                let name = names.get(&message.sender_id).map(String::as_str);
                self.send(message, subscription, user, name)
            })
            .await;
        Ok(())
    }

    /// Of `people`, those who may have a subscription and are not online,
    /// in one round trip.
    async fn offline_subscribers(&self, people: Vec<i64>) -> anyhow::Result<Vec<i64>> {
        let client = totilove_common::redis::connected(&self.redis)?;
        let pipeline = client.pipeline();
        let () = pipeline.smismember(PUSH_PEOPLE_KEY, people.clone()).await?;
        let () = pipeline
            .smismember(ONLINE_PEOPLE_KEY, people.clone())
            .await?;
        let (subscribed, online): (Vec<bool>, Vec<bool>) = pipeline.all().await?;
        Ok(people
            .into_iter()
            .zip(subscribed.into_iter().zip(online))
            .filter_map(|(id, (subscribed, online))| (subscribed && !online).then_some(id))
            .collect())
    }

    /// The senders' names, for the pushes that may show them.
    async fn sender_names(
        &self,
        newest: &HashMap<(i64, i64), Pending>,
        targets: &[auth::PushTarget],
    ) -> HashMap<i64, String> {
        let previewing = |receiver: i64| {
            targets.iter().any(|t| {
                t.user_id == receiver && t.subscription.as_ref().is_some_and(|s| s.previews)
            })
        };
        let mut senders: Vec<i64> = newest
            .keys()
            .filter(|(receiver, _)| previewing(*receiver))
            .map(|(_, sender)| *sender)
            .collect();
        senders.sort_unstable();
        senders.dedup();
        if senders.is_empty() {
            return HashMap::new();
        }
        let found = self
            .auth
            .clone()
            .get_users(GetUsersRequest { user_ids: senders })
            .await;
        match found {
            Ok(found) => found
                .into_inner()
                .users
                .into_iter()
                .map(|u| (u.id, u.display_name.unwrap_or(u.username)))
                .collect(),
            // The pushes still go, with the text but no name.
            Err(e) => {
                tracing::debug!(error = %e, "no sender names for pushes");
                HashMap::new()
            }
        }
    }

    async fn send(
        &self,
        message: &Pending,
        subscription: &auth::PushSubscription,
        user: i64,
        sender_name: Option<&str>,
    ) {
        let result = match self.deliver(message, subscription, sender_name).await {
            Ok(status) if status.is_success() => "sent",
            // The browser unsubscribed or the subscription expired.
            Ok(StatusCode::NOT_FOUND | StatusCode::GONE) => {
                let gone = DeletePushSubscriptionRequest {
                    user_id: user,
                    which: Some(auth::delete_push_subscription_request::Which::Endpoint(
                        subscription.endpoint.clone(),
                    )),
                };
                if let Err(e) = self.auth.clone().delete_push_subscription(gone).await {
                    tracing::debug!(error = %e, "could not forget a gone push endpoint");
                }
                "gone"
            }
            Ok(status) => {
                tracing::debug!(%status, "a push service refused a push");
                "refused"
            }
            Err(e) => {
                tracing::debug!(error = %e, "a push was not delivered");
                "failed"
            }
        };
        metrics::counter!("totilove_push_total", "result" => result).increment(1);
    }

    async fn deliver(
        &self,
        message: &Pending,
        subscription: &auth::PushSubscription,
        sender_name: Option<&str>,
    ) -> anyhow::Result<StatusCode> {
        let payload = if subscription.previews {
            Payload {
                r#type: "message",
                message_id: message.id,
                sender_id: Some(message.sender_id),
                sender_name,
                preview: Some(&message.preview),
            }
        } else {
            Payload {
                r#type: "message",
                message_id: message.id,
                sender_id: None,
                sender_name: None,
                preview: None,
            }
        };
        let ua_public = p256::PublicKey::from_sec1_bytes(&subscription.p256dh)
            .map_err(|_| anyhow::anyhow!("a subscription's p256dh is not a P-256 point"))?;
        anyhow::ensure!(
            subscription.auth.len() == 16,
            "a subscription's auth secret is not 16 bytes"
        );
        #[allow(deprecated)] // web-push-native's own Auth type is generic-array 0.14
        let ua_auth = web_push_native::Auth::clone_from_slice(&subscription.auth);
        let body = web_push_native::encrypt(serde_json::to_vec(&payload)?, &ua_public, &ua_auth)
            .map_err(|e| anyhow::anyhow!("encrypting a push: {e}"))?;
        let audience = url::Url::parse(&subscription.endpoint)?
            .origin()
            .ascii_serialization();
        let request = http::Request::post(subscription.endpoint.as_str())
            .header("TTL", self.ttl.as_secs())
            .header("Urgency", "high")
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::AUTHORIZATION, self.vapid.authorization(&audience)?)
            .body(Full::new(Bytes::from(body)))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("the push service did not answer in time"))??;
        Ok(response.status())
    }
}
