//! Password hashing: argon2id at OWASP's parameters (19 MiB, t=2, p=1), or
//! cheaper ones set for load tests only (`ARGON2_MEMORY_KIB`,
//! `ARGON2_ITERATIONS`). A stored hash carries its own parameters, so hashes
//! made under either setting verify under the other.
//!
//! Each hash takes a core for tens of milliseconds, so it runs off the async
//! runtime, and a semaphore bounds how many run at once: a burst of logins
//! waits its turn instead of stalling the runtime or exhausting memory.
//!
//! Hashes run on a fixed set of threads of their own, not on Tokio's blocking
//! pool: the allocator keeps each thread's freed 19 MiB for reuse, and the
//! blocking pool's ever-changing threads spread those over many arenas (the
//! process grew to ~800 MB after a few thousand logins and stayed there).
//! That alone did not bound it: glibc raises its mmap threshold to the
//! block's size after the first free and then serves later blocks from
//! arenas it never gives back (4 threads kept ~620 MB after 400 hashes). The
//! binary therefore runs on mimalloc (`main.rs`), which keeps about one block
//! per hashing thread for reuse and no more (~85 MB after 400 hashes, ~110 MB
//! after 800, on 4 threads).
//!
//! Logins and registrations have permits and threads of their own: with one
//! shared queue, a flood of registrations would make every login wait behind
//! it (and time out), which would lock everyone out without a single guess.

use std::sync::{Arc, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::{Semaphore, oneshot};
use totilove_common::Error;

use crate::domain::{OfferedPassword, Password};

type Job = Box<dyn FnOnce() + Send>;

/// Permits and the threads they stand for.
#[derive(Clone)]
struct HashPool {
    permits: Arc<Semaphore>,
    /// The hashing threads' queue; a permit guarantees a thread is free.
    jobs: mpsc::SyncSender<Job>,
}

/// The cost of a new hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl HashCost {
    /// OWASP's minimum for argon2id.
    pub const OWASP: Self = Self {
        memory_kib: Params::DEFAULT_M_COST,
        iterations: Params::DEFAULT_T_COST,
    };

    fn params(self) -> Result<Params, Error> {
        Params::new(self.memory_kib, self.iterations, 1, None).map_err(Error::internal)
    }
}

#[derive(Clone)]
pub(crate) struct Passwords {
    /// Verifying logins.
    logins: HashPool,
    /// Hashing new accounts' passwords.
    registrations: HashPool,
    /// Verified against when the login names nobody, so an unknown user costs
    /// the same time as a wrong password and the two cannot be told apart.
    dummy_hash: Arc<str>,
    cost: HashCost,
}

fn hash_blocking(password: &[u8], cost: HashCost) -> Result<String, Error> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params()?)
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(Error::internal)
}

fn verify_blocking(password: &[u8], hash: &str) -> bool {
    // The hash's own parameters are used, whatever the current setting.
    Argon2::default().verify_password(password, hash).is_ok()
}

impl Passwords {
    /// Starts `logins` threads verifying logins and `registrations` threads
    /// hashing new passwords at `cost`; computes the dummy hash (one hash at
    /// startup, at the same cost, so unknown users take as long as known).
    pub(crate) async fn new(
        logins: usize,
        registrations: usize,
        cost: HashCost,
    ) -> anyhow::Result<Self> {
        let owasp = HashCost::OWASP;
        if cost.memory_kib < owasp.memory_kib || cost.iterations < owasp.iterations {
            tracing::warn!(
                memory_kib = cost.memory_kib,
                iterations = cost.iterations,
                "password hashing below OWASP's minimum: for load tests only, never in production"
            );
        }
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut random);
        let dummy_hash =
            tokio::task::spawn_blocking(move || hash_blocking(&random, cost)).await??;
        Ok(Self {
            logins: HashPool::start("login", logins)?,
            registrations: HashPool::start("register", registrations)?,
            dummy_hash: dummy_hash.into(),
            cost,
        })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of a new password.
    pub(crate) async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.as_bytes().to_vec();
        let cost = self.cost;
        self.registrations
            .run(move || hash_blocking(&password, cost))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it checks
    /// against the dummy hash and answers false, in the same time.
    pub(crate) async fn verify(
        &self,
        password: &OfferedPassword,
        hash: Option<&str>,
    ) -> Result<bool, Error> {
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let password = password.as_bytes().to_vec();
        let matches = self
            .logins
            .run(move || verify_blocking(&password, &hash))
            .await?;
        Ok(known && matches)
    }
}

impl HashPool {
    fn start(name: &str, threads: usize) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        Ok(Self {
            permits: Arc::new(Semaphore::new(threads)),
            jobs: start_threads(name, threads)?,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .try_send(job)
            .map_err(|_| Error::internal(anyhow::anyhow!("the hashing threads are gone")))?;
        answer.await.map_err(Error::internal)
    }
}

/// `count` threads taking hashing jobs from one queue until it closes.
fn start_threads(name: &str, count: usize) -> anyhow::Result<mpsc::SyncSender<Job>> {
    let (jobs, queue) = mpsc::sync_channel::<Job>(count);
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("hash-{name}-{i}"))
            .spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        // A panicking job drops its answer (the caller gets
                        // `internal`); the thread stays for the next one.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })?;
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logins_are_verified_while_every_registration_thread_is_busy() {
        let passwords = Passwords::new(1, 1, HashCost::OWASP)
            .await
            .expect("hashing threads");
        let (release, held) = mpsc::channel::<()>();
        let registrations = passwords.registrations.clone();
        let busy = tokio::spawn(async move {
            registrations
                .run(move || {
                    let _ = held.recv();
                })
                .await
        });
        // Wait until the held job owns the only registration permit.
        while passwords.registrations.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }

        let offered = OfferedPassword::try_from("a wrong password".to_owned()).expect("valid");
        let verified = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            passwords.verify(&offered, None),
        )
        .await
        .expect("a login does not wait for registrations");
        assert!(!verified.expect("verified"));

        release.send(()).expect("the held job waits");
        busy.await.expect("joined").expect("ran");
    }

    #[tokio::test]
    async fn a_hash_verifies_whatever_the_cost_set_since() {
        let cheap = HashCost {
            memory_kib: 64,
            iterations: 1,
        };
        let low = Passwords::new(1, 1, cheap).await.expect("hashing threads");
        let password = Password::try_from("correct horse battery".to_owned()).expect("valid");
        let hash = low.hash(&password).await.expect("hashed");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");

        let owasp = Passwords::new(1, 1, HashCost::OWASP)
            .await
            .expect("hashing threads");
        let offered = OfferedPassword::try_from("correct horse battery".to_owned()).expect("valid");
        assert!(owasp.verify(&offered, Some(&hash)).await.expect("verified"));
        let wrong = OfferedPassword::try_from("wrong horse battery".to_owned()).expect("valid");
        assert!(!owasp.verify(&wrong, Some(&hash)).await.expect("verified"));
    }
}
