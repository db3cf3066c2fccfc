//! Every Redis key of the service, in one place (see README.md for the layout).
//!
//! `sweep.lua` builds `user:{id}:online` and `user:{id}:last_seen` itself (the
//! users it meets are only known inside the script): keep them in step.

use crate::domain::UserId;

/// SET of the ids of people announced online (an offline event removes them).
pub(crate) use totilove_common::redis::ONLINE_PEOPLE_KEY as ONLINE_USERS;
/// ZSET `{user}|{gateway}|{connection}` → expiry (ms since the epoch) of every
/// live socket: what heartbeats refresh and the sweeper expires.
pub(crate) const CONNECTIONS: &str = "presence:connections";
/// ZSET user id → when (ms) to take them offline unless a socket came back.
pub(crate) const OFFLINE_DUE: &str = "presence:offline_due";

/// SET `{gateway}|{connection}` of a person's live sockets.
pub(crate) fn user_connections(user: UserId) -> String {
    format!("user:{user}:online")
}

/// When a person's last socket went (ms since the epoch).
pub(crate) fn last_seen(user: UserId) -> String {
    format!("user:{user}:last_seen")
}

/// Present while `user` types to `partner` (expires by itself).
pub(crate) fn typing(user: UserId, partner: UserId) -> String {
    format!("typing:{user}:{partner}")
}

/// Present for a moment after a `typing:true` went out: the forward throttle.
pub(crate) fn typing_throttle(user: UserId, partner: UserId) -> String {
    format!("typing:{user}:{partner}:sent")
}
