//! The fan-out hub: live events from Redis pub/sub to this instance's sockets.
//!
//! One Redis subscriber connection per gateway process (not per socket). A
//! person's channel (`events::user_channel`) is subscribed while at least one
//! of their sockets lives here, and each such person has a *chain*: a task
//! that delivers their events in order and repairs gaps. Pub/sub is
//! at-most-once, so each message event names the previous message of the
//! person (`prev_id`); the chain knows the last id it delivered and, when an
//! event does not follow it, asks the message service for what it missed
//! (`Sync`) before going on. So every live socket gets every message to or
//! from its person exactly once, in id order, even across Redis reconnects.
//! See `docs/API.md` ("Real time: fan-out").
//!
//! The hub also registers sockets with the presence service (open, close and
//! one batched heartbeat per instance), reports deliveries to receivers'
//! sockets to the message service (coalesced), and closes the sockets of a
//! session that ended anywhere (`events::SESSION_REVOKED_CHANNEL`).

mod chain;
mod delivered;
mod liveness;
pub mod outbox;
mod sessions;
mod subscriber;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use fred::{clients::SubscriberClient, interfaces::ClientLike};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};
use totilove_common::grpc::Intercepted;
use totilove_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    presence::v1::{Connection, presence_service_client::PresenceServiceClient},
};

use self::{
    chain::UserChain,
    delivered::Delivered,
    outbox::{CloseReason, Outgoing, SocketHandle},
};
use crate::{
    config::{Config, RealtimeSettings},
    messaging::Messaging,
};

/// Subscriptions to one channel are serialized (a SUBSCRIBE of a newcomer
/// must not overtake the UNSUBSCRIBE of someone who just left); striping
/// keeps different people from waiting on each other.
const SUBSCRIPTION_STRIPES: usize = 64;

/// How long a graceful shutdown waits for sockets to say goodbye.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the hub is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Running,
    /// Shutting down gracefully: sockets close with 1001 and say goodbye to
    /// the presence service.
    Draining,
    /// Stopped without a goodbye, as a crash would: sockets drop at once and
    /// the presence service finds out by the missing heartbeats.
    Crashed,
}

/// A cheap handle on the hub (one `Arc`).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

// Its inside is every socket's queue: too much for a log line.
impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    settings: RealtimeSettings,
    /// This instance's name in presence records.
    instance_id: String,
    auth: AuthServiceClient<Intercepted>,
    messages: Messaging,
    presence: PresenceServiceClient<Intercepted>,
    subscriber: SubscriberClient,
    registry: Mutex<Registry>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    delivered: Delivered,
    lifecycle: watch::Sender<Lifecycle>,
    /// Signalled whenever the last local socket goes (for draining).
    emptied: Notify,
    next_socket: AtomicU64,
    /// Random per process, so connection ids never repeat across restarts.
    boot: u32,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct Registry {
    /// The chain of every person with a local socket.
    chains: HashMap<i64, Arc<UserChain>>,
    sockets: HashMap<u64, Arc<SocketHandle>>,
    /// Sockets per person, counting upgrades in progress.
    counts: HashMap<i64, usize>,
}

impl Hub {
    /// Starts the hub: the subscriber connection (which keeps reconnecting
    /// while Redis is down), its dispatcher, the presence heartbeat and the
    /// delivery reports.
    pub async fn start(
        config: &Config,
        messages: Messaging,
        auth: AuthServiceClient<Intercepted>,
        presence: PresenceServiceClient<Intercepted>,
    ) -> anyhow::Result<Self> {
        let subscriber = subscriber::build(&config.redis)?;
        let (lifecycle, _) = watch::channel(Lifecycle::Running);
        let hub = Self {
            inner: Arc::new(Inner {
                instance_id: config.instance_id.clone(),
                auth,
                messages,
                presence,
                subscriber,
                registry: Mutex::default(),
                stripes: (0..SUBSCRIPTION_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                delivered: Delivered::default(),
                lifecycle,
                emptied: Notify::new(),
                next_socket: AtomicU64::new(1),
                boot: uuid::Uuid::new_v4().as_u128() as u32,
                tasks: Mutex::default(),
                settings: config.realtime.clone(),
            }),
        };
        let tasks = vec![
            tokio::spawn(subscriber::dispatch(hub.inner.clone())),
            tokio::spawn(subscriber::follow_reconnects(hub.inner.clone())),
            tokio::spawn(liveness::beat(hub.inner.clone())),
            tokio::spawn(delivered::flush(hub.inner.clone())),
            tokio::spawn(sessions::watch(hub.inner.clone())),
        ];
        lock(&hub.inner.tasks).extend(tasks);
        subscriber::connect(&hub.inner).await;
        Ok(hub)
    }

    pub fn settings(&self) -> &RealtimeSettings {
        &self.inner.settings
    }

    /// Holds a socket slot for `user_id` while the upgrade completes; `None`
    /// when they already have the maximum here. The cap across instances is
    /// the presence service's: see [`Reservation::claim`].
    pub fn reserve(&self, user_id: i64) -> Option<Reservation> {
        let mut registry = lock(&self.inner.registry);
        let count = registry.counts.entry(user_id).or_insert(0);
        if *count >= self.inner.settings.max_sockets_per_user {
            return None;
        }
        *count += 1;
        drop(registry);
        let id = self.inner.next_socket.fetch_add(1, Ordering::Relaxed);
        Some(Reservation {
            hub: self.clone(),
            user_id,
            id,
            connection_id: format!("{:08x}-{id:x}", self.inner.boot),
            recorded: false,
            attached: false,
        })
    }

    /// Registers an upgraded socket: its events start flowing into the
    /// returned queue (the person's channel is subscribed if it was not).
    pub fn attach(&self, mut reservation: Reservation, session_id: &str) -> Attached {
        reservation.attached = true;
        let (user_id, id) = (reservation.user_id, reservation.id);
        let (outbox_tx, outbox_rx) = mpsc::channel(self.inner.settings.outbox_capacity);
        let (close_tx, close_rx) = watch::channel(None);
        let handle = Arc::new(SocketHandle {
            id,
            user_id,
            session_id: session_id.into(),
            connection_id: std::mem::take(&mut reservation.connection_id),
            outbox: outbox_tx,
            close: close_tx,
        });
        let ready = {
            let mut registry = lock(&self.inner.registry);
            registry.sockets.insert(id, handle.clone());
            let chain = registry
                .chains
                .entry(user_id)
                .or_insert_with(|| UserChain::start(&self.inner, user_id));
            lock(&chain.sockets).push(handle.clone());
            chain.ready()
        };
        Attached {
            ready,
            link: SocketLink {
                hub: self.clone(),
                handle,
                recorded: reservation.recorded,
            },
            outbox: outbox_rx,
            close: close_rx,
        }
    }

    /// Watches the hub's life (sockets stop when it leaves `Running`).
    pub fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.inner.lifecycle.subscribe()
    }

    /// Graceful stop: every socket closes (1001) and says goodbye to the
    /// presence service, then the hub's tasks end.
    pub async fn shutdown(&self) {
        self.inner.lifecycle.send_replace(Lifecycle::Draining);
        let drained = async {
            loop {
                let emptied = self.inner.emptied.notified();
                if lock(&self.inner.registry).sockets.is_empty() {
                    return;
                }
                emptied.await;
            }
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!("some sockets did not close in time");
        }
        self.inner.stop_tasks();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.subscriber.quit()).await;
    }

    /// A guard to hold while the server runs: dropped without a graceful
    /// [`Hub::shutdown`] (the server task was aborted), it stops everything
    /// at once, as a crash would.
    pub fn guard(&self) -> HubGuard {
        HubGuard { hub: self.clone() }
    }

    /// Live sockets on this instance (for tests and metrics).
    pub fn socket_count(&self) -> usize {
        lock(&self.inner.registry).sockets.len()
    }
}

impl Inner {
    fn stop_tasks(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    fn stripe(&self, user_id: i64) -> &tokio::sync::Mutex<()> {
        &self.stripes[user_id.unsigned_abs() as usize % self.stripes.len()]
    }

    /// The chain of `user_id`, if they have a socket here.
    fn chain(&self, user_id: i64) -> Option<Arc<UserChain>> {
        lock(&self.registry).chains.get(&user_id).cloned()
    }

    /// Whether `user_id` has a chain (a retired chain is already removed).
    fn has_chain(&self, user_id: i64) -> bool {
        lock(&self.registry).chains.contains_key(&user_id)
    }

    /// Every chain checks for missed messages (after a reconnect or a lag).
    fn repair_all(&self) {
        let chains: Vec<_> = lock(&self.registry).chains.values().cloned().collect();
        tracing::info!(
            people = chains.len(),
            "checking every local chain for missed events"
        );
        for chain in chains {
            chain.request_repair();
        }
    }

    /// Closes every local socket of `session_id`. A scan: logouts are rare
    /// and a pass over even 10 000 sockets takes microseconds.
    fn close_session(&self, session_id: &str) {
        let registry = lock(&self.registry);
        let mut closed = 0;
        for socket in registry.sockets.values() {
            if &*socket.session_id == session_id {
                socket.close_with(CloseReason::SESSION_ENDED);
                closed += 1;
            }
        }
        if closed > 0 {
            tracing::info!(sockets = closed, "closed the sockets of an ended session");
        }
    }

    /// [`Inner::close_session`] for many sessions, in one pass over the sockets.
    fn close_sessions(&self, ended: &HashSet<&str>) {
        let registry = lock(&self.registry);
        let mut closed = 0;
        for socket in registry.sockets.values() {
            if ended.contains(&*socket.session_id) {
                socket.close_with(CloseReason::SESSION_ENDED);
                closed += 1;
            }
        }
        if closed > 0 {
            tracing::info!(sockets = closed, "closed the sockets of ended sessions");
        }
    }

    fn detach(&self, handle: &SocketHandle) {
        let mut registry = lock(&self.registry);
        if registry.sockets.remove(&handle.id).is_none() {
            return;
        }
        release(&mut registry, handle.user_id);
        let last = registry.chains.get(&handle.user_id).is_some_and(|chain| {
            let mut sockets = lock(&chain.sockets);
            sockets.retain(|s| s.id != handle.id);
            sockets.is_empty()
        });
        if last && let Some(chain) = registry.chains.remove(&handle.user_id) {
            chain.retire();
        }
        if registry.sockets.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    fn live_sockets(&self) -> Vec<Arc<SocketHandle>> {
        lock(&self.registry).sockets.values().cloned().collect()
    }

    fn is_live(&self, socket_id: u64) -> bool {
        lock(&self.registry).sockets.contains_key(&socket_id)
    }
}

fn release(registry: &mut Registry, user_id: i64) {
    if let Some(count) = registry.counts.get_mut(&user_id) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            registry.counts.remove(&user_id);
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps stay consistent (every update is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A socket slot held during the upgrade (released when dropped unattached).
#[derive(Debug)]
pub struct Reservation {
    hub: Hub,
    user_id: i64,
    /// The socket's id and presence name, fixed before it exists.
    id: u64,
    connection_id: String,
    /// The presence service recorded it already.
    recorded: bool,
    attached: bool,
}

impl Reservation {
    /// Records the socket-to-be with the presence service; false when the
    /// person holds the most sockets allowed across every instance. Without
    /// an answer it is allowed (the cap of this instance still holds).
    pub async fn claim(&mut self) -> bool {
        let connection = Connection {
            user_id: self.user_id,
            connection_id: self.connection_id.clone(),
        };
        let max = u32::try_from(self.hub.inner.settings.max_sockets_per_user).unwrap_or(u32::MAX);
        match liveness::open(&self.hub.inner, connection, max).await {
            liveness::Opened::Refused => false,
            liveness::Opened::Recorded => {
                self.recorded = true;
                true
            }
            liveness::Opened::Unknown => true,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.attached {
            return;
        }
        release(&mut lock(&self.hub.inner.registry), self.user_id);
        if self.recorded {
            // The upgrade failed after the presence service counted it.
            let inner = self.hub.inner.clone();
            let connection = Connection {
                user_id: self.user_id,
                connection_id: std::mem::take(&mut self.connection_id),
            };
            tokio::spawn(async move { liveness::close(&inner, connection).await });
        }
    }
}

/// A registered socket: its link to the hub, its queue and its close signal.
#[derive(Debug)]
pub struct Attached {
    /// Becomes true once every message committed from now on will reach
    /// the socket live (the person's channel is subscribed and its head read).
    pub ready: watch::Receiver<bool>,
    pub link: SocketLink,
    pub outbox: mpsc::Receiver<Outgoing>,
    pub close: watch::Receiver<Option<CloseReason>>,
}

/// A socket's membership in the hub; dropping it unregisters the socket.
#[derive(Debug)]
pub struct SocketLink {
    hub: Hub,
    handle: Arc<SocketHandle>,
    /// The presence service recorded it before the upgrade.
    recorded: bool,
}

impl SocketLink {
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// The socket's own queue, for the frames it answers itself.
    pub fn outbox(&self) -> &mpsc::Sender<Outgoing> {
        &self.handle.outbox
    }

    /// Tells the presence service this socket is open (failures are logged:
    /// presence never stands in the way of messaging).
    pub async fn open_presence(&self) {
        if !self.recorded {
            let connection = liveness::connection(&self.handle);
            liveness::open(&self.hub.inner, connection, 0).await;
        }
    }

    /// Unregisters the socket, then tells the presence service it closed.
    pub async fn close(self) {
        self.hub.inner.detach(&self.handle);
        liveness::close(&self.hub.inner, liveness::connection(&self.handle)).await;
    }
}

impl Drop for SocketLink {
    fn drop(&mut self) {
        self.hub.inner.detach(&self.handle);
    }
}

/// See [`Hub::guard`].
#[derive(Debug)]
pub struct HubGuard {
    hub: Hub,
}

impl Drop for HubGuard {
    fn drop(&mut self) {
        let inner = &self.hub.inner;
        let was = inner.lifecycle.send_replace(Lifecycle::Crashed);
        if was == Lifecycle::Running {
            tracing::warn!("the gateway stopped without a graceful shutdown");
        }
        inner.stop_tasks();
        let subscriber = inner.subscriber.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = subscriber.quit().await;
            });
        }
    }
}
