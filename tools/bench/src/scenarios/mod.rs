//! The measurements. Each sets up its own accounts (unique to the run), runs
//! a bounded load against the gateways, and prints its figures.

pub(crate) mod auth;
pub(crate) mod messages;
pub(crate) mod sockets;

use std::{path::PathBuf, time::Duration};

use futures::future::try_join_all;

use crate::client::{Account, Api};

pub(crate) struct Options {
    /// Gateway base URLs; people are spread over them.
    pub urls: Vec<String>,
    /// Closed loop: senders (each waits for its ack before the next send).
    pub concurrency: usize,
    /// Conversations (sender, receiver) the messages go over.
    pub pairs: usize,
    pub duration: Duration,
    /// Open loop: messages per second in all.
    pub rate: u64,
    /// `sockets`: how many to hold.
    pub count: usize,
    /// `sockets`: how many processes hold them (a process may have ~20,000 fds).
    pub procs: usize,
    /// `sockets`: how long to hold them once all are open.
    pub hold: Duration,
    /// The data folder of the run, for CPU and memory of its processes.
    pub data: PathBuf,
}

impl Options {
    pub(crate) fn apis(&self) -> Vec<Api> {
        self.urls.iter().map(|u| Api::new(u)).collect()
    }
}

fn run_prefix() -> String {
    format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..7])
}

/// `n` fresh accounts, created 16 at a time.
pub(crate) async fn accounts(api: &Api, n: usize) -> anyhow::Result<Vec<Account>> {
    let prefix = run_prefix();
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let names: Vec<String> = chunk.iter().map(|i| format!("{prefix}_{i}")).collect();
        let made = try_join_all(names.iter().map(|n| api.account(n))).await?;
        out.extend(made);
    }
    Ok(out)
}

/// Pairs of accounts: `2i` talks to `2i+1`.
pub(crate) async fn pairs(api: &Api, n: usize) -> anyhow::Result<Vec<(Account, Account)>> {
    let mut all = accounts(api, 2 * n).await?.into_iter();
    let mut out = Vec::with_capacity(n);
    while let (Some(a), Some(b)) = (all.next(), all.next()) {
        out.push((a, b));
    }
    Ok(out)
}
