//! `totilove-bench`: measures a running Totilove through its public API only,
//! and reports what each measured second cost every process (CPU and memory,
//! from the data folder of `deploy/local/run`), the bench's own beside them.
//!
//! ```text
//! totilove-bench SCENARIO [options]
//!   send-ws | send-rest   closed loop: --concurrency senders over --pairs pairs
//!   e2e-ws  | e2e-rest    open loop: --rate messages/s in all over --pairs pairs
//!   sockets               --count idle authenticated sockets over --procs processes
//!   login | me            authentication paths, --concurrency callers
//! options:
//!   --url URL[,URL...]    gateways (default http://$GATEWAY_ADDR or http://127.0.0.1:8080);
//!                         people are spread over them, senders and receivers on different ones
//!   --duration SECS       measured time (default 10)
//!   --data DIR            the run's data folder, for CPU/RSS (default $TOTILOVE_DATA or .data)
//! ```
//! Message scenarios check delivery too: every acknowledged message must reach
//! its receiver's socket exactly once and in id order (lost / duplicated /
//! out of order are counted and printed).

mod client;
mod procs;
mod report;
mod scenarios;
mod stats;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};

const USAGE: &str = "usage: totilove-bench send-ws|send-rest|e2e-ws|e2e-rest|sockets|login|me \
[--url URL[,URL..]] [--concurrency N] [--pairs N] [--duration S] [--rate R] [--count N] \
[--procs N] [--hold S] [--data DIR]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let default_url = std::env::var("GATEWAY_ADDR")
        .map(|a| {
            a.split(',')
                .map(|a| format!("http://{a}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut urls = default_url;
    let mut scenario = None;
    let mut o = scenarios::Options {
        urls: Vec::new(),
        concurrency: 64,
        pairs: 100,
        duration: Duration::from_secs(10),
        rate: 400,
        count: 1000,
        procs: 1,
        hold: Duration::from_secs(30),
        data: std::env::var_os("TOTILOVE_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".data")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => urls = value()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--pairs" => o.pairs = value()?.parse()?,
            "--duration" => o.duration = Duration::from_secs_f64(value()?.parse()?),
            "--rate" => o.rate = value()?.parse()?,
            "--count" => o.count = value()?.parse()?,
            "--procs" => o.procs = value()?.parse()?,
            "--hold" => o.hold = Duration::from_secs_f64(value()?.parse()?),
            "--data" => o.data = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if !s.starts_with("--") && scenario.is_none() => scenario = Some(s.to_owned()),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    o.urls = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if o.urls.is_empty() {
        bail!("--url needs at least one gateway");
    }
    match scenario.as_deref() {
        Some("send-ws") => scenarios::messages::run(&o, scenarios::messages::Mode::ClosedWs).await,
        Some("send-rest") => {
            scenarios::messages::run(&o, scenarios::messages::Mode::ClosedRest).await
        }
        Some("e2e-ws" | "e2e") => {
            scenarios::messages::run(&o, scenarios::messages::Mode::OpenWs).await
        }
        Some("e2e-rest") => scenarios::messages::run(&o, scenarios::messages::Mode::OpenRest).await,
        Some("sockets") => scenarios::sockets::run(&o).await,
        // Internal: one process's share of `sockets --procs N`.
        Some("sockets-worker") => scenarios::sockets::worker(&o).await,
        Some("login") => scenarios::auth::login(&o).await,
        Some("me") => scenarios::auth::me(&o).await,
        _ => bail!("{USAGE}"),
    }
}
