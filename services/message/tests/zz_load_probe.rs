//! TEMPORARY throughput probe (deleted after measuring).
use std::{sync::{Arc, atomic::{AtomicU64, Ordering}}, time::{Duration, Instant}};
use totilove_proto::{auth::v1::RegisterRequest, message::v1::SendRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let system = totilove_testkit::TestSystem::start().await;
    let mut users = Vec::new();
    for i in 0..20 {
        let name = format!("u{i}_{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let u = system.auth_client().register(RegisterRequest { username: name.clone(), email: format!("{name}@x.io"), password: "password123".into(), client: None }).await.unwrap().into_inner().user.unwrap();
        users.push(u.id);
    }
    let conc: usize = std::env::var("CONC").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let secs: u64 = std::env::var("SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let done = Arc::new(AtomicU64::new(0));
    let errs = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let clients: Vec<_> = (0..8).map(|_| system.message_client()).collect();
    for t in 0..conc {
        let mut client = clients[t % clients.len()].clone();
        let users = users.clone();
        let (done, errs) = (done.clone(), errs.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while Instant::now() < deadline {
                let from = users[i % users.len()];
                let to = users[(i * 7 + 3) % users.len()];
                i += 1;
                if from == to { continue; }
                let r = client.send(SendRequest { sender_id: from, receiver_id: to, content: format!("hello there, message number {i} from the probe"), client_msg_id: uuid::Uuid::new_v4().to_string() }).await;
                if r.is_ok() { done.fetch_add(1, Ordering::Relaxed); } else { errs.fetch_add(1, Ordering::Relaxed); }
            }
        }));
    }
    for t in tasks { t.await.unwrap(); }
    let n = done.load(Ordering::Relaxed);
    eprintln!("PROBE conc={conc} secs={secs} acked={n} rate={}/s errors={}", n / secs, errs.load(Ordering::Relaxed));
}
