//! Idle authenticated sockets: opened, held, and what each costs the
//! gateways in memory. One process can hold ~20,000 sockets (its file
//! descriptor limit), so `--procs N` spreads them over N processes of this
//! tool (`sockets-worker`), each reporting on its standard output.

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures::{StreamExt, stream};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use super::{Options, accounts};
use crate::{client::next_event, procs::Processes, report::Window};

/// Upgrades in flight at once while opening.
const OPENING: usize = 64;

pub(crate) async fn run(o: &Options) -> anyhow::Result<()> {
    let procs = o.procs.max(1);
    let window = Window::start(&Processes::discover(&o.data));
    let started = Instant::now();
    let mut children = Vec::new();
    for p in 0..procs {
        let share = o.count / procs + usize::from(p < o.count % procs);
        let mut child = Command::new(std::env::current_exe()?)
            .args(["sockets-worker", "--url", &o.urls.join(",")])
            .args(["--count", &share.to_string()])
            .args(["--hold", &o.hold.as_secs_f64().to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a socket holder")?;
        let lines = BufReader::new(child.stdout.take().context("its output")?).lines();
        children.push((child, lines));
    }
    // Each holder says `open N` once its sockets are up, then `held N closed M`.
    let mut open = 0u64;
    for (_, lines) in &mut children {
        let line = lines.next_line().await?.context("a holder ended early")?;
        open += parse_after(&line, "open")?;
    }
    let opened_in = started.elapsed();
    let at_open = window.finish();
    println!(
        "sockets: {open} of {} open in {:.1} s over {} gateway(s) and {procs} process(es); holding {:.0} s",
        o.count,
        opened_in.as_secs_f64(),
        o.urls.len(),
        o.hold.as_secs_f64()
    );
    let gateways: Vec<&str> = at_open
        .names()
        .into_iter()
        .filter(|n| n.starts_with("gateway"))
        .collect();
    let per_gateway = open as f64 / gateways.len().max(1) as f64;
    for name in &gateways {
        let growth = at_open.rss_growth_kib(name);
        println!(
            "  {name}: rss grew {:.1} MiB, {:.2} KiB per socket",
            growth as f64 / 1024.0,
            growth as f64 / per_gateway.max(1.0)
        );
    }
    let mut held = 0u64;
    let mut closed = 0u64;
    for (mut child, mut lines) in children {
        let line = lines.next_line().await?.context("a holder ended early")?;
        held += parse_after(&line, "held")?;
        closed += parse_after(&line, "closed")?;
        child.wait().await?;
    }
    println!(
        "  held: {held} sockets for {:.0} s, {closed} closed or failed meanwhile",
        o.hold.as_secs_f64()
    );
    at_open.print(open, "socket opened");
    if closed > 0 || open < o.count as u64 {
        bail!("{} sockets failed", o.count as u64 - open + closed);
    }
    Ok(())
}

fn parse_after(line: &str, word: &str) -> anyhow::Result<u64> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == word {
            return Ok(words.next().context("a number")?.parse()?);
        }
    }
    bail!("unexpected holder output: {line}")
}

/// One process's share: opens `--count` sockets (10 per account, the
/// contract's limit), says so, holds them while answering pings, says how
/// many survived.
pub(crate) async fn worker(o: &Options) -> anyhow::Result<()> {
    let apis = o.apis();
    let users = accounts(&apis[0], o.count.div_ceil(10)).await?;
    let closed = Arc::new(AtomicU64::new(0));
    let opened: Vec<_> = stream::iter(0..o.count)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            let token = users[i / 10].token.clone();
            async move { api.socket(&token).await }
        })
        .buffer_unordered(OPENING)
        .collect()
        .await;
    let mut open = 0u64;
    let mut failed = 0u64;
    let mut holders = Vec::new();
    for socket in opened {
        match socket {
            Ok(mut ws) => {
                open += 1;
                let closed = closed.clone();
                // Reading answers the server's pings (tungstenite does it as it reads).
                holders.push(tokio::spawn(async move {
                    while next_event(&mut ws).await.is_ok() {}
                    closed.fetch_add(1, Ordering::Relaxed);
                }));
            }
            Err(_) => failed += 1,
        }
    }
    println!("open {open} failed {failed}");
    tokio::time::sleep(o.hold).await;
    let lost = closed.load(Ordering::Relaxed);
    println!("held {} closed {}", open - lost, lost + failed);
    for h in holders {
        h.abort();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
