//! The authentication paths: logins (argon2) and authenticated reads.

use std::time::Instant;

use tokio::task::JoinSet;

use super::{Options, accounts};
use crate::{procs::Processes, report::Window, stats::Samples};

pub(crate) async fn login(o: &Options) -> anyhow::Result<()> {
    let api = o.apis().remove(0);
    let users = accounts(&api, o.concurrency).await?;
    let window = Window::start(&Processes::discover(&o.data));
    let deadline = Instant::now() + o.duration;
    let mut set = JoinSet::new();
    for user in users {
        let api = api.clone();
        set.spawn(async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match api.login(&user.username).await {
                    Ok(_) => s.record(t.elapsed()),
                    Err(_) => s.errors += 1,
                }
            }
            s
        });
    }
    let mut all = Samples::default();
    while let Some(s) = set.join_next().await {
        all.merge(s?);
    }
    let cost = window.finish();
    println!(
        "login (POST /api/auth/login), {} callers: {} ok ({:.0}/s), {} errors; {}",
        o.concurrency,
        all.len(),
        all.len() as f64 / cost.seconds,
        all.errors,
        all.quantiles()
    );
    cost.print(all.len() as u64, "login");
    Ok(())
}

pub(crate) async fn me(o: &Options) -> anyhow::Result<()> {
    let api = o.apis().remove(0);
    let users = accounts(&api, o.concurrency).await?;
    let window = Window::start(&Processes::discover(&o.data));
    let deadline = Instant::now() + o.duration;
    let mut set = JoinSet::new();
    for user in users {
        let api = api.clone();
        set.spawn(async move {
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match api.get("/api/me", &user.token).await {
                    Ok((200, _)) => s.record(t.elapsed()),
                    _ => s.errors += 1,
                }
            }
            s
        });
    }
    let mut all = Samples::default();
    while let Some(s) = set.join_next().await {
        all.merge(s?);
    }
    let cost = window.finish();
    println!(
        "authenticated read (GET /api/me), {} callers: {} ok ({:.0}/s), {} errors; {}",
        o.concurrency,
        all.len(),
        all.len() as f64 / cost.seconds,
        all.errors,
        all.quantiles()
    );
    cost.print(all.len() as u64, "request");
    Ok(())
}
