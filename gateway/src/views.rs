//! The JSON shapes of the API (`user`, `profile`), built from the services'
//! wire types at the edge.

use serde::Serialize;
use totilove_proto::auth::v1 as pb;

/// `user`: the public card of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserJson {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
}

impl From<pb::User> for UserJson {
    fn from(u: pb::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
        }
    }
}

/// The owner's own `user` (in `/api/me`): the card plus the email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnUserJson {
    #[serde(flatten)]
    pub user: UserJson,
    pub email: Option<String>,
}

/// `profile`: every field possibly `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileJson {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub birthdate: Option<String>,
    pub gender: Option<String>,
    pub location: Option<String>,
    pub avatar_url: Option<String>,
}

impl From<pb::Profile> for ProfileJson {
    fn from(p: pb::Profile) -> Self {
        Self {
            display_name: p.display_name,
            bio: p.bio,
            birthdate: p.birthdate,
            gender: p.gender,
            location: p.location,
            avatar_url: p.avatar_url,
        }
    }
}

/// A user the service must always send; its absence is a bug there, not the caller's.
pub fn required<T>(value: Option<T>, what: &str) -> Result<T, crate::http::ApiError> {
    value.ok_or_else(|| {
        totilove_common::Error::internal(anyhow::anyhow!("the service sent no {what}")).into()
    })
}
