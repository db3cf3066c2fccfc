//! The values every service passes around: one person's id and one message's
//! delivery state. Parsed once at an edge (gRPC field, SQL row, JSON), so
//! nothing deeper checks them again; raw integers and strings stay at the
//! wire and the database.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A person's id: positive, as every id of the API. Serialised as the bare
/// number (the API's JSON shows ids as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UserId(i64);

impl UserId {
    /// Parses `raw`, naming `field` (the request's field) in the error.
    pub fn parse(raw: i64, field: &str) -> Result<Self, Error> {
        if raw > 0 {
            Ok(Self(raw))
        } else {
            Err(Error::invalid(format!(
                "{field} must be a positive user id"
            )))
        }
    }

    /// An id read back from our own store (a row's `user_id`): only ids
    /// parsed at an edge, or allocated by PostgreSQL, were ever written, so
    /// it is not checked again.
    pub fn from_stored(raw: i64) -> Self {
        debug_assert!(raw > 0, "stored user id {raw}");
        Self(raw)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for UserId {
    type Error = Error;

    fn try_from(raw: i64) -> Result<Self, Error> {
        Self::parse(raw, "user id")
    }
}

impl From<UserId> for i64 {
    fn from(id: UserId) -> i64 {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Delivery state of a message; it only ever moves forward (the order of
/// the variants). The API's, the cache's and the events' JSON name it in
/// lowercase (`sent`, `delivered`, `read`); PostgreSQL stores the code
/// (`smallint` 1, 2, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Sent = 1,
    Delivered = 2,
    Read = 3,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
        }
    }

    /// `None` for anything but the three lowercase names.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            _ => None,
        }
    }

    /// The code PostgreSQL stores.
    pub fn code(self) -> i16 {
        self as i16
    }
}

impl TryFrom<i16> for MessageStatus {
    type Error = String;

    fn try_from(code: i16) -> Result<Self, String> {
        match code {
            1 => Ok(Self::Sent),
            2 => Ok(Self::Delivered),
            3 => Ok(Self::Read),
            other => Err(format!("unknown message status {other}")),
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_must_be_positive() {
        assert!(UserId::parse(0, "user_id").is_err());
        assert!(UserId::parse(-3, "user_id").is_err());
        assert_eq!(UserId::parse(7, "user_id").map(UserId::get), Ok(7));
        let err = UserId::parse(0, "to").expect_err("refused");
        assert_eq!(err.message, "to must be a positive user id");
    }

    #[test]
    fn a_user_id_is_a_bare_number_in_json_and_text() {
        let id = UserId::parse(42, "id").expect("positive");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("42"));
        assert_eq!(serde_json::from_str::<UserId>("42").ok(), Some(id));
        assert_eq!(id.to_string(), "42");
        for bad in ["0", "-1", "\"42\"", "1.5"] {
            assert!(serde_json::from_str::<UserId>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names_json_and_codes() {
        for status in [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
        ] {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<MessageStatus>(&json).ok(),
                Some(status)
            );
            assert_eq!(MessageStatus::try_from(status.code()), Ok(status));
        }
        assert!(MessageStatus::Sent < MessageStatus::Delivered);
        assert!(MessageStatus::Delivered < MessageStatus::Read);
    }

    #[test]
    fn unknown_status_names_and_codes_are_refused() {
        for bad in ["", "Sent", "READ", "seen", " sent", "sent\n"] {
            assert_eq!(MessageStatus::parse(bad), None, "{bad:?}");
            let json = serde_json::to_string(bad).unwrap_or_default();
            assert!(
                serde_json::from_str::<MessageStatus>(&json).is_err(),
                "{bad:?}"
            );
        }
        for bad in [0, 4, -1] {
            assert!(MessageStatus::try_from(bad).is_err(), "{bad}");
        }
    }
}
