//! The measurements. Each sets up its own accounts (unique to the run), runs
//! a bounded loop against the gateway, and prints one report line.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures::future::try_join_all;
use serde_json::json;
use tokio::task::JoinSet;

use crate::{
    client::{self, Account, Api},
    stats::Samples,
};

pub struct Options {
    pub concurrency: usize,
    pub duration: Duration,
    /// Messages per second in all, for `e2e`.
    pub rate: u64,
    /// Sockets to hold, for `sockets`.
    pub count: usize,
}

fn run_prefix() -> String {
    format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..7])
}

/// `n` fresh accounts, created 16 at a time.
pub async fn accounts(api: &Api, n: usize) -> anyhow::Result<Vec<Account>> {
    let prefix = run_prefix();
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let names: Vec<String> = chunk.iter().map(|i| format!("{prefix}_{i}")).collect();
        let made = try_join_all(names.iter().map(|n| api.account(n))).await?;
        out.extend(made);
    }
    Ok(out)
}

/// Runs `worker(i)` on `n` tasks and merges their samples.
async fn workers<F, Fut>(n: usize, worker: F) -> anyhow::Result<(Samples, Duration)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Samples>> + Send + 'static,
{
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(worker(i));
    }
    let mut all = Samples::default();
    while let Some(done) = set.join_next().await {
        all.merge(done??);
    }
    Ok((all, started.elapsed()))
}

pub async fn login(api: &Api, o: &Options) -> anyhow::Result<()> {
    let users = accounts(api, o.concurrency).await?;
    let deadline = Instant::now() + o.duration;
    let (samples, took) = workers(users.len(), |i| {
        let api = api.clone();
        let name = users[i].username.clone();
        async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match api.login(&name).await {
                    Ok(_) => s.record(t.elapsed()),
                    Err(_) => s.errors += 1,
                }
            }
            Ok(s)
        }
    })
    .await?;
    samples.report("login (POST /api/auth/login)", took);
    Ok(())
}

pub async fn me(api: &Api, o: &Options) -> anyhow::Result<()> {
    let users = accounts(api, o.concurrency).await?;
    let deadline = Instant::now() + o.duration;
    let (samples, took) = workers(users.len(), |i| {
        let api = api.clone();
        let token = users[i].token.clone();
        async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match api.get("/api/me", &token).await {
                    Ok((200, _)) => s.record(t.elapsed()),
                    _ => s.errors += 1,
                }
            }
            Ok(s)
        }
    })
    .await?;
    samples.report(
        "authenticated read (GET /api/me, one ValidateToken each)",
        took,
    );
    Ok(())
}

/// Pairs of accounts: sender `2i` talks to `2i+1`.
async fn pairs(api: &Api, n: usize) -> anyhow::Result<Vec<(Account, Account)>> {
    let mut all = accounts(api, 2 * n).await?.into_iter();
    let mut out = Vec::with_capacity(n);
    while let (Some(a), Some(b)) = (all.next(), all.next()) {
        out.push((a, b));
    }
    Ok(out)
}

pub async fn send_rest(api: &Api, o: &Options) -> anyhow::Result<()> {
    let pairs = pairs(api, o.concurrency).await?;
    let deadline = Instant::now() + o.duration;
    let (samples, took) = workers(pairs.len(), |i| {
        let api = api.clone();
        let (token, to) = (pairs[i].0.token.clone(), pairs[i].1.id);
        async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let body = json!({"to": to, "content": "hello from the bench", "client_msg_id": uuid::Uuid::new_v4()});
                let t = Instant::now();
                match api.post("/api/messages/send", Some(&token), &body).await {
                    Ok((201, _)) => s.record(t.elapsed()),
                    _ => s.errors += 1,
                }
            }
            Ok(s)
        }
    })
    .await?;
    samples.report("persisted messages (REST send, closed loop)", took);
    Ok(())
}

pub async fn send_ws(api: &Api, o: &Options) -> anyhow::Result<()> {
    let pairs = pairs(api, o.concurrency).await?;
    let mut sockets = Vec::with_capacity(pairs.len());
    for (a, _) in &pairs {
        sockets.push(api.socket(&a.token).await?);
    }
    let deadline = Instant::now() + o.duration;
    let targets: Vec<i64> = pairs.iter().map(|(_, b)| b.id).collect();
    let sockets = Arc::new(std::sync::Mutex::new(
        sockets.into_iter().map(Some).collect::<Vec<_>>(),
    ));
    let (samples, took) = workers(targets.len(), |i| {
        let to = targets[i];
        let mut ws = sockets.lock().expect("not poisoned")[i]
            .take()
            .expect("one socket per worker");
        async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let (id, frame) = client::send_frame(to, "hello from the bench");
                let t = Instant::now();
                client::send(&mut ws, frame).await?;
                loop {
                    let ev = client::next_event(&mut ws).await?;
                    if ev["client_msg_id"] == id.as_str() {
                        if ev["type"] == "sent" {
                            s.record(t.elapsed());
                        } else {
                            s.errors += 1;
                        }
                        break;
                    }
                }
            }
            Ok(s)
        }
    })
    .await?;
    samples.report(
        "persisted messages (WebSocket send -> sent, closed loop)",
        took,
    );
    Ok(())
}

/// Open loop at `rate` messages/s in all: latency from the send frame to the
/// receiver's socket. The send instant travels inside the content.
pub async fn e2e(api: &Api, o: &Options) -> anyhow::Result<()> {
    let pairs = pairs(api, o.concurrency).await?;
    let epoch = Instant::now();
    let deadline = epoch + o.duration;
    let mut receivers = JoinSet::new();
    for (_, b) in &pairs {
        let mut ws = api.socket(&b.token).await?;
        receivers.spawn(async move {
            let mut s = Samples::default();
            let grace = deadline + Duration::from_secs(2);
            while let Ok(Ok(ev)) =
                tokio::time::timeout_at(grace.into(), client::next_event(&mut ws)).await
            {
                if ev["type"] == "message" {
                    let sent_at: u64 = ev["message"]["content"]
                        .as_str()
                        .and_then(|c| c.strip_prefix("t="))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    let now = epoch.elapsed().as_micros() as u64;
                    s.record(Duration::from_micros(now.saturating_sub(sent_at)));
                }
            }
            s
        });
    }
    let per_sender = Duration::from_secs_f64(pairs.len() as f64 / o.rate.max(1) as f64);
    let mut senders = JoinSet::new();
    for (a, b) in &pairs {
        let mut ws = api.socket(&a.token).await?;
        let to = b.id;
        senders.spawn(async move {
            let mut tick = tokio::time::interval(per_sender);
            let mut sent = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                let content = format!("t={}", epoch.elapsed().as_micros());
                let (_, frame) = client::send_frame(to, &content);
                client::send(&mut ws, frame).await?;
                sent += 1;
            }
            // Drain acks until the receivers are done.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while client::next_event(&mut ws).await.is_ok() {}
            })
            .await;
            anyhow::Ok(sent)
        });
    }
    let mut sent = 0;
    while let Some(n) = senders.join_next().await {
        sent += n??;
    }
    let mut all = Samples::default();
    while let Some(s) = receivers.join_next().await {
        all.merge(s?);
    }
    println!("e2e: {sent} sent at a target of {}/s", o.rate);
    all.report(
        "delivery latency (send frame -> receiver's socket)",
        o.duration,
    );
    Ok(())
}

/// Opens `count` idle sockets (10 per account, the API's limit) and holds them.
pub async fn sockets(api: &Api, o: &Options) -> anyhow::Result<()> {
    let users = accounts(api, o.count.div_ceil(10)).await?;
    let mut held = Vec::with_capacity(o.count);
    let started = Instant::now();
    for i in 0..o.count {
        let token = &users[i / 10].token;
        held.push(
            api.socket(token)
                .await
                .with_context(|| format!("socket {i}"))?,
        );
    }
    println!(
        "sockets: {} open in {:.1} s; holding for {:?}",
        held.len(),
        started.elapsed().as_secs_f64(),
        o.duration
    );
    tokio::time::sleep(o.duration).await;
    Ok(())
}
