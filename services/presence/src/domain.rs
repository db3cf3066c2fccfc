//! The service's domain types, parsed once at the gRPC edge ("parse, don't
//! validate"): nothing deeper sees a raw protobuf field.

use totilove_common::Error;

pub(crate) use totilove_common::UserId;

/// Longest gateway or connection id accepted: they are stored once per live
/// socket (twice, in two Redis structures), so they are kept short.
const MAX_ID_LEN: usize = 64;

/// Parses an opaque id given by a gateway: 1 to 64 visible ASCII characters
/// without `|`, the separator of the Redis members built from it.
fn parse_token(raw: String, field: &str) -> Result<String, Error> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ID_LEN
        && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'|');
    if ok {
        Ok(raw)
    } else {
        Err(Error::invalid(format!(
            "{field} must be 1 to {MAX_ID_LEN} visible ASCII characters without '|'"
        )))
    }
}

/// A gateway instance (random per process, chosen by the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GatewayId(String);

impl GatewayId {
    pub(crate) fn parse(raw: String) -> Result<Self, Error> {
        parse_token(raw, "gateway_id").map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A socket, unique within its gateway instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConnectionId(String);

impl ConnectionId {
    pub(crate) fn parse(raw: String) -> Result<Self, Error> {
        parse_token(raw, "connection_id").map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// One live socket of a person on a gateway instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Connection {
    pub user: UserId,
    pub gateway: GatewayId,
    pub id: ConnectionId,
}

impl Connection {
    /// The connection as a member of its person's set: `{gateway}|{connection}`.
    pub(crate) fn member(&self) -> String {
        format!("{}|{}", self.gateway.as_str(), self.id.as_str())
    }

    /// The connection as a member of the expiry index:
    /// `{user}|{gateway}|{connection}` (the user id first, so the sweeper can
    /// find the person of a lapsed connection).
    pub(crate) fn indexed_member(&self) -> String {
        format!(
            "{}|{}|{}",
            self.user,
            self.gateway.as_str(),
            self.id.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_the_member_separator_or_blanks_are_refused() {
        assert!(GatewayId::parse("gw|1".into()).is_err());
        assert!(ConnectionId::parse("a b".into()).is_err());
        assert!(ConnectionId::parse(String::new()).is_err());
        assert!(ConnectionId::parse("x".repeat(65)).is_err());
        assert!(ConnectionId::parse("3f2a-c0".into()).is_ok());
    }
}
