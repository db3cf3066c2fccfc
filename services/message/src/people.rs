//! Who exists and who blocks whom, asked of the auth service (which owns
//! users and blocks).
//!
//! Users are never deleted, so "exists" is remembered for good and "unknown"
//! for about a second; concurrent lookups of the same person share one call.
//! Block answers are remembered by `admission`, which knows when they change.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::OnceCell;
use totilove_common::{
    Error,
    config::Secret,
    grpc::{Intercepted, Outbound},
};
use totilove_proto::auth::v1::{
    GetUsersRequest, IsBlockedRequest, auth_service_client::AuthServiceClient,
};

use crate::domain::{Pair, UserId};

/// How long an unknown user is remembered.
const SHORT_MEMORY: Duration = Duration::from_secs(1);
/// Beyond this many remembered keys, stale ones are forgotten (then all).
const MAX_REMEMBERED: usize = 1_000_000;

type AuthClient = AuthServiceClient<Intercepted>;

#[derive(Clone)]
pub(crate) struct People {
    auth: AuthClient,
    exists: Arc<Memo<i64>>,
}

impl People {
    pub(crate) fn new(auth_url: &str, token: &Secret) -> anyhow::Result<Self> {
        Ok(Self {
            auth: AuthServiceClient::with_interceptor(
                totilove_common::grpc::counted_channel(auth_url)?,
                Outbound::new(token)?,
            ),
            exists: Arc::new(Memo::new(Duration::MAX, SHORT_MEMORY)),
        })
    }

    /// `Code::NotFound` unless the person exists.
    pub(crate) async fn ensure_exists(&self, user: UserId) -> Result<(), Error> {
        let exists = self
            .exists
            .get_or_fetch(user.get(), async {
                let found = self
                    .auth
                    .clone()
                    .get_users(GetUsersRequest {
                        user_ids: vec![user.get()],
                    })
                    .await?
                    .into_inner()
                    .users;
                Ok(found.iter().any(|u| u.id == user.get()))
            })
            .await?;
        if exists {
            Ok(())
        } else {
            Err(Error::not_found("user"))
        }
    }

    /// Whether either of the pair blocks the other, asked now.
    pub(crate) async fn is_blocked(&self, pair: Pair) -> Result<bool, Error> {
        Ok(self
            .auth
            .clone()
            .is_blocked(IsBlockedRequest {
                user_a: pair.lo,
                user_b: pair.hi,
            })
            .await?
            .into_inner()
            .blocked)
    }
}

/// An answer and when it was fetched; empty while the lookup is in flight.
type Slot = Arc<OnceCell<(bool, Instant)>>;

/// Yes/no answers remembered for a while, with one lookup in flight per key.
struct Memo<K> {
    entries: Mutex<HashMap<K, Slot>>,
    keep_yes: Duration,
    keep_no: Duration,
}

impl<K: Hash + Eq + Clone> Memo<K> {
    fn new(keep_yes: Duration, keep_no: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            keep_yes,
            keep_no,
        }
    }

    fn is_fresh(&self, answer: &(bool, Instant)) -> bool {
        let keep = if answer.0 {
            self.keep_yes
        } else {
            self.keep_no
        };
        answer.1.elapsed() < keep
    }

    async fn get_or_fetch(
        &self,
        key: K,
        fetch: impl Future<Output = Result<bool, tonic::Status>>,
    ) -> Result<bool, Error> {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= MAX_REMEMBERED {
                entries.retain(|_, cell| cell.get().is_some_and(|a| self.is_fresh(a)));
                if entries.len() >= MAX_REMEMBERED / 2 {
                    entries.clear();
                }
            }
            let cell = entries.entry(key).or_default();
            if cell.get().is_some_and(|a| !self.is_fresh(a)) {
                *cell = Arc::default();
            }
            cell.clone()
        };
        // A failed lookup leaves the cell empty: the next caller tries again.
        let answer = cell
            .get_or_try_init(|| async { fetch.await.map(|yes| (yes, Instant::now())) })
            .await
            .map_err(Error::from)?;
        Ok(answer.0)
    }
}
