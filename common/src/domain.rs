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

/// Both as PostgreSQL columns (`bigint`, `smallint`), so a row decodes
/// straight into them (`user_id AS "user_id: UserId"` in `query!`): a
/// value out of range fails the row instead of travelling on.
mod sql {
    use sqlx::{
        Decode, Encode, Postgres, Type,
        encode::IsNull,
        error::BoxDynError,
        postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef},
    };

    use super::{MessageStatus, UserId};

    impl Type<Postgres> for UserId {
        fn type_info() -> PgTypeInfo {
            <i64 as Type<Postgres>>::type_info()
        }
    }

    impl Encode<'_, Postgres> for UserId {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <i64 as Encode<Postgres>>::encode_by_ref(&self.0, buf)
        }
    }

    impl Decode<'_, Postgres> for UserId {
        fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
            let raw = <i64 as Decode<Postgres>>::decode(value)?;
            Ok(Self::try_from(raw)?)
        }
    }

    impl Type<Postgres> for MessageStatus {
        fn type_info() -> PgTypeInfo {
            <i16 as Type<Postgres>>::type_info()
        }
    }

    impl Encode<'_, Postgres> for MessageStatus {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <i16 as Encode<Postgres>>::encode_by_ref(&self.code(), buf)
        }
    }

    impl Decode<'_, Postgres> for MessageStatus {
        fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
            let code = <i16 as Decode<Postgres>>::decode(value)?;
            Ok(Self::try_from(code)?)
        }
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

    /// Against the real PostgreSQL `scripts/test` starts.
    #[tokio::test]
    async fn columns_decode_into_the_types_and_out_of_range_values_fail() {
        let url = std::env::var("TEST_DATABASE_URL")
            .expect("TEST_DATABASE_URL must be set: run the tests with scripts/test");
        let db = sqlx::PgPool::connect(&url).await.expect("PostgreSQL is up");
        let (id, status): (UserId, MessageStatus) =
            sqlx::query_as("SELECT $1::bigint, $2::smallint")
                .bind(UserId::from_stored(42))
                .bind(MessageStatus::Delivered)
                .fetch_one(&db)
                .await
                .expect("a row");
        assert_eq!((id.get(), status), (42, MessageStatus::Delivered));
        let bad_id = sqlx::query_scalar::<_, UserId>("SELECT 0::bigint")
            .fetch_one(&db)
            .await;
        assert!(bad_id.is_err());
        let bad_status = sqlx::query_scalar::<_, MessageStatus>("SELECT 4::smallint")
            .fetch_one(&db)
            .await;
        assert!(bad_status.is_err());
    }
}
