//! `totilove-bench`: measures a running Totilove through its public API only.
//!
//! ```text
//! totilove-bench [--url http://127.0.0.1:8080] SCENARIO [--concurrency N] [--duration SECS] [--rate MSGS_PER_SEC] [--count SOCKETS]
//! scenarios: login, me, send-rest, send-ws, e2e, sockets
//! ```

mod client;
mod scenarios;
mod stats;

use std::time::Duration;

use anyhow::{Context as _, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut url = std::env::var("GATEWAY_ADDR")
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut scenario = None;
    let mut o = scenarios::Options {
        concurrency: 100,
        duration: Duration::from_secs(10),
        rate: 1000,
        count: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = value()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--duration" => o.duration = Duration::from_secs(value()?.parse()?),
            "--rate" => o.rate = value()?.parse()?,
            "--count" => o.count = value()?.parse()?,
            s if !s.starts_with("--") && scenario.is_none() => scenario = Some(s.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    let api = client::Api::new(&url);
    match scenario.as_deref() {
        Some("login") => scenarios::login(&api, &o).await,
        Some("me") => scenarios::me(&api, &o).await,
        Some("send-rest") => scenarios::send_rest(&api, &o).await,
        Some("send-ws") => scenarios::send_ws(&api, &o).await,
        Some("e2e") => scenarios::e2e(&api, &o).await,
        Some("sockets") => scenarios::sockets(&api, &o).await,
        _ => bail!(
            "usage: totilove-bench [--url URL] login|me|send-rest|send-ws|e2e|sockets [--concurrency N] [--duration S] [--rate R] [--count N]"
        ),
    }
}
