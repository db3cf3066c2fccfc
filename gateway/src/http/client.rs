//! Where a request comes from, for the audit trail, the sessions list and
//! the auth service's per-address limits (failed logins, registrations).
//!
//! Behind proxies, the address is read from `X-Forwarded-For`, from the
//! right: each trusted proxy appends the address it saw, so with
//! `TRUSTED_PROXY_HOPS` = n the n-th entry from the right is the client as
//! the outermost trusted proxy saw it. Everything left of it was written by
//! the client and is never believed. With fewer than n entries, a proxy
//! replaced the header instead of appending to it (nginx's
//! `X-Forwarded-For $remote_addr`): every entry is then a proxy's, and the
//! first is the client it saw.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

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
    /// The peer address, or the one `X-Forwarded-For` gives behind trusted
    /// proxies (see the module's header).
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// `trusted_proxy_hops`: how many proxies in front of the gateway
    /// append to `X-Forwarded-For`; 0 ignores the header.
    pub fn from_parts(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        trusted_proxy_hops: usize,
    ) -> Self {
        let ip = match (forwarded_client(headers, trusted_proxy_hops), peer) {
            (Some(ip), _) => ip.to_string(),
            (None, Some(peer)) => peer.ip().to_canonical().to_string(),
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

/// The client address `X-Forwarded-For` gives behind `hops` trusted proxies
/// (every header line in order, as one list); `None` when there is none, or
/// the entry there is not an address.
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    // Split as bytes: a client's junk to the left must not spoil the
    // entries the proxies appended.
    let entries: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|entry| !entry.is_empty())
        .collect();
    let entry = match entries.len().checked_sub(hops) {
        Some(i) => entries[i],
        None => entries.first()?,
    };
    parse_address(std::str::from_utf8(entry).ok()?)
}

/// `203.0.113.9`, `2001:db8::1`, or either with a port (`203.0.113.9:5000`,
/// `[2001:db8::1]:5000`), as some proxies write them; IPv4-mapped IPv6 as IPv4.
fn parse_address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
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
            state.config().trusted_proxy_hops,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr =
        SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 4000);

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", line.parse().expect("header"));
        }
        h
    }

    fn ip(lines: &[&str], hops: usize) -> String {
        ClientInfo::from_parts(&headers(lines), Some(PEER), hops).ip
    }

    #[test]
    fn forwarded_for_is_ignored_unless_trusted() {
        assert_eq!(ip(&["203.0.113.9"], 0), "10.0.0.1");
    }

    #[test]
    fn one_trusted_proxy_gives_the_rightmost_entry_whatever_the_client_wrote_before_it() {
        // The client wrote the first two; the proxy appended the third.
        assert_eq!(ip(&["1.2.3.4, 5.6.7.8, 203.0.113.9"], 1), "203.0.113.9");
        assert_eq!(ip(&["1.2.3.4", "203.0.113.9"], 1), "203.0.113.9");
        // A proxy that replaces the header leaves one entry: the client.
        assert_eq!(ip(&["203.0.113.9"], 1), "203.0.113.9");
    }

    #[test]
    fn behind_two_proxies_the_second_entry_from_the_right_is_the_client() {
        // Client-written, then the client as the outer proxy saw it, then
        // the outer proxy as the inner one saw it.
        let chain = ["6.6.6.6, 203.0.113.9, 10.1.1.1"];
        assert_eq!(ip(&chain, 2), "203.0.113.9");
        // Fewer entries than proxies: all are theirs, the first is the client.
        assert_eq!(ip(&["203.0.113.9"], 2), "203.0.113.9");
    }

    #[test]
    fn junk_left_of_the_proxys_entry_does_not_matter() {
        assert_eq!(ip(&["<script>, , 203.0.113.9"], 1), "203.0.113.9");
        let mut h = HeaderMap::new();
        let line = axum::http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").expect("header");
        h.insert("x-forwarded-for", line);
        assert_eq!(ClientInfo::from_parts(&h, Some(PEER), 1).ip, "203.0.113.9");
    }

    #[test]
    fn an_entry_that_is_not_an_address_falls_back_to_the_peer() {
        assert_eq!(ip(&["203.0.113.9, <script>"], 1), "10.0.0.1");
        assert_eq!(ip(&["unknown"], 1), "10.0.0.1");
        assert_eq!(ip(&[""], 1), "10.0.0.1");
        assert_eq!(
            ClientInfo::from_parts(&HeaderMap::new(), Some(PEER), 1).ip,
            "10.0.0.1"
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_normalised() {
        assert_eq!(ip(&["203.0.113.9:5000"], 1), "203.0.113.9");
        assert_eq!(ip(&["[2001:DB8::1]:5000"], 1), "2001:db8::1");
        assert_eq!(ip(&["2001:0db8:0000::0001"], 1), "2001:db8::1");
        assert_eq!(ip(&["::ffff:203.0.113.9"], 1), "203.0.113.9");
    }
}
