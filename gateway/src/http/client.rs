//! Where a request comes from, for the audit trail, the sessions list and
//! per-address login throttling.

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};
use totilove_proto::auth::v1 as pb;

use crate::state::AppState;

/// Kept short: it is stored with every session and shown back to its owner.
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The peer address, or the first `X-Forwarded-For` entry when the
    /// gateway is configured to sit behind a proxy that sets it.
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    pub fn from_parts(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        trust_forwarded_for: bool,
    ) -> Self {
        // A client can write any X-Forwarded-For it likes: believe it only
        // when a proxy we trust replaces it.
        let forwarded = trust_forwarded_for
            .then(|| headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        let ip = match (forwarded, peer) {
            (Some(ip), _) => ip.to_owned(),
            (None, Some(peer)) => peer.ip().to_string(),
            (None, None) => String::new(),
        };
        let user_agent = headers
            .get(header::USER_AGENT)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(MAX_USER_AGENT_CHARS)
                    .collect()
            })
            .unwrap_or_default();
        Self { ip, user_agent }
    }
}

impl From<ClientInfo> for pb::ClientInfo {
    fn from(c: ClientInfo) -> Self {
        Self {
            ip: c.ip,
            user_agent: c.user_agent,
        }
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Ok(Self::from_parts(
            &parts.headers,
            peer,
            state.config().trust_forwarded_for,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    #[test]
    fn forwarded_for_is_ignored_unless_trusted() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 4000)));
        let h = headers("203.0.113.9, 10.0.0.2");
        assert_eq!(ClientInfo::from_parts(&h, peer, false).ip, "10.0.0.1");
        assert_eq!(ClientInfo::from_parts(&h, peer, true).ip, "203.0.113.9");
    }

    #[test]
    fn a_forwarded_for_that_is_not_an_address_is_ignored() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 4000)));
        let h = headers("<script>");
        assert_eq!(ClientInfo::from_parts(&h, peer, true).ip, "10.0.0.1");
    }
}
