//! How a socket's loops end: told by the reader, the writer or the hub to
//! `socket::serve`, which closes accordingly. Its own module so that the
//! reader and the writer need not import the socket that runs them.

use crate::fanout::outbox::CloseReason;

/// How a socket's loops ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The peer closed, went away or broke the connection.
    PeerGone,
    /// We close, with this code and reason.
    Close(CloseReason),
    /// The gateway stopped as a crash would: no goodbye to anyone.
    Crash,
}

impl Ending {
    /// The `reason` label of `totilove_ws_closes_total`.
    pub(super) fn label(self) -> &'static str {
        match self {
            Ending::PeerGone => "peer_gone",
            Ending::Crash => "crash",
            Ending::Close(CloseReason::TOO_SLOW) => "too_slow",
            Ending::Close(CloseReason::SESSION_ENDED) => "session_ended",
            Ending::Close(CloseReason::TOO_MANY_REFUSALS) => "too_many_refusals",
            Ending::Close(CloseReason::IDLE) => "idle",
            Ending::Close(CloseReason::SHUTDOWN) => "shutdown",
            Ending::Close(CloseReason::TOO_BIG) => "too_big",
            Ending::Close(_) => "other",
        }
    }
}
