//! Messages under load, over the socket or REST, closed or open loop, with
//! every receiver connected: the ack latency (send → `sent`/201), the
//! delivery latency (send → the receiver's socket), and a check that every
//! acknowledged message reached its receiver exactly once, in id order.
//!
//! Sender `i` is on gateway `i mod G` and receiver `i` on gateway `i+1 mod G`,
//! so with several gateways every message crosses from one to another.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures::{SinkExt, StreamExt, stream::SplitSink};
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinSet};
use tokio_tungstenite::tungstenite::Message;

use super::{Options, pairs};
use crate::{
    client::{Api, Socket, next_event},
    procs::Processes,
    report::Window,
    stats::Samples,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `--concurrency` senders, each sending its next message when the last is acknowledged.
    ClosedWs,
    ClosedRest,
    /// `--rate` messages a second in all, on a fixed schedule; latency from the scheduled time.
    OpenWs,
    OpenRest,
}

impl Mode {
    fn over_socket(self) -> bool {
        matches!(self, Mode::ClosedWs | Mode::OpenWs)
    }

    fn describe(self, o: &Options) -> String {
        let how = if self.over_socket() {
            "WebSocket send → sent"
        } else {
            "REST POST /api/messages/send"
        };
        match self {
            Mode::ClosedWs | Mode::ClosedRest => format!(
                "{how}, closed loop: {} senders over {} pairs, {} gateway(s)",
                o.concurrency.min(o.pairs),
                o.pairs,
                o.urls.len()
            ),
            Mode::OpenWs | Mode::OpenRest => format!(
                "{how}, open loop: {}/s over {} pairs, {} gateway(s)",
                o.rate,
                o.pairs,
                o.urls.len()
            ),
        }
    }
}

/// What every sender shares: where acknowledged ids and latencies go.
struct Tally {
    epoch: Instant,
    /// Per pair, the ids acknowledged to its sender.
    acked: Vec<Mutex<Vec<i64>>>,
    ack_latency: Mutex<Samples>,
    errors: AtomicU64,
    error_kinds: Mutex<HashMap<String, u64>>,
}

impl Tally {
    fn acked(&self, pair: usize, id: i64, scheduled_us: u64) {
        let now = self.epoch.elapsed().as_micros() as u64;
        self.acked[pair].lock().expect("not poisoned").push(id);
        self.ack_latency
            .lock()
            .expect("not poisoned")
            .record_micros(now.saturating_sub(scheduled_us));
    }

    fn failed(&self, kind: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_kinds
            .lock()
            .expect("not poisoned")
            .entry(kind)
            .or_default() += 1;
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// The content of a message: when it was (to be) sent, for the receiver.
fn content(scheduled_us: u64) -> String {
    format!("t={scheduled_us} hello from the bench, how are you today?")
}

fn scheduled_of(message: &Value) -> Option<u64> {
    message["content"]
        .as_str()?
        .strip_prefix("t=")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

pub(crate) async fn run(o: &Options, mode: Mode) -> anyhow::Result<()> {
    let apis = o.apis();
    let gateways = apis.len();
    let pairs = pairs(&apis[0], o.pairs.max(1)).await?;
    let epoch = Instant::now();
    let tally = Arc::new(Tally {
        epoch,
        acked: (0..pairs.len()).map(|_| Mutex::default()).collect(),
        ack_latency: Mutex::default(),
        errors: AtomicU64::new(0),
        error_kinds: Mutex::default(),
    });

    // Receivers first, so that every message finds its socket.
    let received = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut receivers = JoinSet::new();
    for (i, (a, b)) in pairs.iter().enumerate() {
        let ws = apis[(i + 1) % gateways].socket(&b.token).await?;
        receivers.spawn(receive(
            i,
            ws,
            a.id,
            epoch,
            stopped.clone(),
            received.clone(),
        ));
    }
    let mut sender_sockets = Vec::new();
    if mode.over_socket() {
        for (i, (a, _)) in pairs.iter().enumerate() {
            sender_sockets.push(apis[i % gateways].socket(&a.token).await?);
        }
    }
    let targets: Vec<(Api, String, i64)> = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b))| (apis[i % gateways].clone(), a.token.clone(), b.id))
        .collect();

    let window = Window::start(&Processes::discover(&o.data));
    let deadline = Instant::now() + o.duration;
    match mode {
        Mode::ClosedWs => closed_ws(o, sender_sockets, &targets, deadline, &tally).await?,
        Mode::ClosedRest => closed_rest(o, &targets, deadline, &tally).await?,
        Mode::OpenWs => open_ws(o, sender_sockets, &targets, deadline, &tally).await?,
        Mode::OpenRest => open_rest(o, &targets, deadline, &tally).await?,
    }
    let sent_for = match mode {
        Mode::OpenWs | Mode::OpenRest => o.duration.as_secs_f64(),
        Mode::ClosedWs | Mode::ClosedRest => window_seconds(deadline, o.duration),
    };

    // Everything acknowledged should arrive: wait for it, at most 5 s.
    let total_acked: u64 = tally
        .acked
        .iter()
        .map(|a| a.lock().expect("not poisoned").len() as u64)
        .sum();
    let drain_until = Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::Relaxed) < total_acked && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cost = window.finish();
    stop.send_replace(true);
    let mut got: Vec<Option<Received>> = (0..pairs.len()).map(|_| None).collect();
    while let Some(r) = receivers.join_next().await {
        let r = r?;
        let at = r.pair;
        got[at] = Some(r);
    }

    // The check: per pair, exactly the acknowledged ids, each once, rising.
    let (mut lost, mut duplicated, mut out_of_order, mut unexpected) = (0u64, 0u64, 0u64, 0u64);
    let mut delivery = Samples::default();
    for (i, r) in got.into_iter().enumerate() {
        let r = r.context("a receiver ended")?;
        let acked: HashSet<i64> = tally.acked[i]
            .lock()
            .expect("not poisoned")
            .iter()
            .copied()
            .collect();
        let mut seen = HashSet::new();
        let mut last = 0;
        for id in &r.ids {
            if !seen.insert(*id) {
                duplicated += 1;
            } else if !acked.contains(id) {
                unexpected += 1;
            }
            if *id <= last {
                out_of_order += 1;
            }
            last = last.max(*id);
        }
        lost += acked.iter().filter(|id| !seen.contains(id)).count() as u64;
        delivery.merge(r.latency);
    }

    let ack = tally.ack_latency.lock().expect("not poisoned").clone();
    let errors = tally.errors.load(Ordering::Relaxed);
    println!("{}, {:.0} s", mode.describe(o), o.duration.as_secs_f64());
    println!(
        "  messages: {total_acked} acknowledged ({:.0}/s), {errors} errors{}",
        total_acked as f64 / sent_for,
        error_summary(&tally)
    );
    println!("  ack latency: {}", ack.quantiles());
    println!(
        "  delivery latency (send → receiver's socket): {}",
        delivery.quantiles()
    );
    println!(
        "  delivery check: {} delivered, {lost} lost, {duplicated} duplicated, {out_of_order} out of order, {unexpected} unacknowledged",
        delivery.len()
    );
    cost.print(total_acked, "message");
    Ok(())
}

fn window_seconds(deadline: Instant, duration: Duration) -> f64 {
    // Senders stop at the deadline; a closed loop may overrun it by one ack.
    let overrun = Instant::now().saturating_duration_since(deadline);
    (duration + overrun).as_secs_f64()
}

fn error_summary(tally: &Tally) -> String {
    let kinds = tally.error_kinds.lock().expect("not poisoned");
    if kinds.is_empty() {
        return String::new();
    }
    let mut list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    list.sort();
    format!(" ({})", list.join(", "))
}

struct Received {
    pair: usize,
    /// Ids of the messages from the pair's sender, in arrival order.
    ids: Vec<i64>,
    latency: Samples,
}

async fn receive(
    pair: usize,
    mut ws: Socket,
    from: i64,
    epoch: Instant,
    mut stop: watch::Receiver<bool>,
    count: Arc<AtomicU64>,
) -> Received {
    let mut r = Received {
        pair,
        ids: Vec::new(),
        latency: Samples::default(),
    };
    loop {
        let ev = tokio::select! {
            ev = next_event(&mut ws) => ev,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok(ev) = ev else { break };
        if ev["type"] == "message" && ev["message"]["sender_id"] == from {
            let Some(id) = ev["message"]["id"].as_i64() else {
                continue;
            };
            r.ids.push(id);
            if let Some(at) = scheduled_of(&ev["message"]) {
                let now = epoch.elapsed().as_micros() as u64;
                r.latency.record_micros(now.saturating_sub(at));
            }
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
    r
}

fn send_frame(to: i64, scheduled_us: u64) -> (String, Message) {
    let id = uuid::Uuid::new_v4().to_string();
    let frame =
        json!({"type": "send", "to": to, "content": content(scheduled_us), "client_msg_id": id});
    (id, Message::text(frame.to_string()))
}

/// Task `k` of `C` owns pairs k, k+C, ... and sends on each in turn.
fn owned(k: usize, senders: usize, pairs: usize) -> Vec<usize> {
    (k..pairs).step_by(senders).collect()
}

async fn closed_ws(
    o: &Options,
    sockets: Vec<Socket>,
    targets: &[(Api, String, i64)],
    deadline: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let senders = o.concurrency.clamp(1, targets.len());
    let mut sockets: Vec<Option<Socket>> = sockets.into_iter().map(Some).collect();
    let mut set = JoinSet::new();
    for k in 0..senders {
        let mine: Vec<(usize, i64, Socket)> = owned(k, senders, targets.len())
            .into_iter()
            .map(|p| (p, targets[p].2, sockets[p].take().expect("one owner")))
            .collect();
        let tally = tally.clone();
        set.spawn(async move {
            let mut mine = mine;
            let mut turn = 0;
            while Instant::now() < deadline {
                let n = mine.len();
                let (pair, to, ws) = &mut mine[turn % n];
                turn += 1;
                let at = tally.now_us();
                let (id, frame) = send_frame(*to, at);
                ws.send(frame).await?;
                loop {
                    let ev = next_event(ws).await?;
                    if ev["client_msg_id"] == id.as_str() {
                        match ev["message"]["id"].as_i64() {
                            Some(mid) if ev["type"] == "sent" => tally.acked(*pair, mid, at),
                            _ => tally.failed(format!("{}", ev["code"])),
                        }
                        break;
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(())
}

async fn rest_send(api: &Api, token: &str, to: i64, pair: usize, at: u64, tally: &Tally) {
    let body = json!({"to": to, "content": content(at), "client_msg_id": uuid::Uuid::new_v4()});
    match api.post("/api/messages/send", Some(token), &body).await {
        Ok((201, reply)) => match reply["message"]["id"].as_i64() {
            Some(id) => tally.acked(pair, id, at),
            None => tally.failed("201 without an id".into()),
        },
        Ok((status, reply)) => tally.failed(format!("{status} {}", reply["error"]["code"])),
        Err(e) => tally.failed(format!("transport: {e}")),
    }
}

async fn closed_rest(
    o: &Options,
    targets: &[(Api, String, i64)],
    deadline: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let senders = o.concurrency.clamp(1, targets.len());
    let mut set = JoinSet::new();
    for k in 0..senders {
        let mine: Vec<(usize, Api, String, i64)> = owned(k, senders, targets.len())
            .into_iter()
            .map(|p| (p, targets[p].0.clone(), targets[p].1.clone(), targets[p].2))
            .collect();
        let tally = tally.clone();
        set.spawn(async move {
            let mut turn = 0;
            while Instant::now() < deadline {
                let (pair, api, token, to) = &mine[turn % mine.len()];
                turn += 1;
                rest_send(api, token, *to, *pair, tally.now_us(), &tally).await;
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done?;
    }
    Ok(())
}

/// When pair `i`'s `k`-th message is due (µs since the epoch): pairs are
/// staggered so the load is even.
fn schedule(o: &Options, pairs: usize, start_us: u64) -> impl Fn(usize, u64) -> u64 + use<> {
    let rate = o.rate.max(1) as f64;
    let period = pairs as f64 / rate * 1e6;
    let stagger = 1e6 / rate;
    move |i, k| start_us + (i as f64 * stagger + k as f64 * period) as u64
}

async fn open_ws(
    o: &Options,
    sockets: Vec<Socket>,
    targets: &[(Api, String, i64)],
    deadline: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let due = Arc::new(schedule(o, targets.len(), tally.now_us()));
    let end_us = tally.now_us() + o.duration.as_micros() as u64;
    let mut set = JoinSet::new();
    for (pair, ws) in sockets.into_iter().enumerate() {
        let to = targets[pair].2;
        let (sink, mut stream) = ws.split();
        let pending: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let reader_pending = pending.clone();
        let reader_tally = tally.clone();
        // Acks: matched to their send by client_msg_id, until all came or the grace ends.
        set.spawn(async move {
            let grace = deadline + Duration::from_secs(5);
            loop {
                let next = tokio::time::timeout_at(grace.into(), stream.next()).await;
                let Ok(Some(Ok(Message::Text(text)))) = next else {
                    if matches!(next, Ok(Some(Ok(_)))) {
                        continue;
                    }
                    break;
                };
                let Ok(ev) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let Some(cid) = ev["client_msg_id"].as_str() else {
                    continue;
                };
                let Some(at) = reader_pending.lock().expect("not poisoned").remove(cid) else {
                    continue;
                };
                match ev["message"]["id"].as_i64() {
                    Some(id) if ev["type"] == "sent" => reader_tally.acked(pair, id, at),
                    _ => reader_tally.failed(format!("{}", ev["code"])),
                }
                let done = reader_tally.now_us() >= end_us
                    && reader_pending.lock().expect("not poisoned").is_empty();
                if done {
                    break;
                }
            }
            anyhow::Ok(())
        });
        let due = due.clone();
        let tally = tally.clone();
        set.spawn(async move {
            let mut sink: SplitSink<Socket, Message> = sink;
            for k in 0.. {
                let at = due(pair, k);
                if at >= end_us {
                    break;
                }
                let wait = Duration::from_micros(at.saturating_sub(tally.now_us()));
                tokio::time::sleep(wait).await;
                let (id, frame) = send_frame(to, at);
                pending.lock().expect("not poisoned").insert(id, at);
                sink.send(frame).await?;
            }
            // Keep the socket open until its acks are in.
            tokio::time::sleep_until((deadline + Duration::from_secs(5)).into()).await;
            anyhow::Ok(())
        });
    }
    // The reader of each socket ends when its acks are in; the writer holds the socket open.
    let until = deadline + Duration::from_secs(5);
    while let Ok(Some(done)) = tokio::time::timeout_at(until.into(), set.join_next()).await {
        done??;
    }
    set.abort_all();
    Ok(())
}

async fn open_rest(
    o: &Options,
    targets: &[(Api, String, i64)],
    deadline: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<()> {
    let due = Arc::new(schedule(o, targets.len(), tally.now_us()));
    let end_us = tally.now_us() + o.duration.as_micros() as u64;
    let mut set = JoinSet::new();
    for (pair, (api, token, to)) in targets.iter().cloned().enumerate() {
        let due = due.clone();
        let tally = tally.clone();
        set.spawn(async move {
            let mut inflight = JoinSet::new();
            for k in 0.. {
                let at = due(pair, k);
                if at >= end_us {
                    break;
                }
                let wait = Duration::from_micros(at.saturating_sub(tally.now_us()));
                tokio::time::sleep(wait).await;
                let (api, token, tally) = (api.clone(), token.clone(), tally.clone());
                inflight.spawn(async move { rest_send(&api, &token, to, pair, at, &tally).await });
            }
            while inflight.join_next().await.is_some() {}
        });
    }
    let _ = deadline;
    while let Some(done) = set.join_next().await {
        done?;
    }
    Ok(())
}
