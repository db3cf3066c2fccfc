//! The caller's own account: `/api/me` and the profile they edit.

use axum::{
    Router,
    extract::State,
    routing::{get, put},
};
use serde::{Deserialize, Deserializer, Serialize};
use totilove_proto::{auth::v1 as pb, presence::v1::ProfileChangedRequest};

use crate::{
    http::{ApiJson, ApiResult, CurrentUser},
    state::AppState,
    views::{OwnUserJson, ProfileJson, required},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/me/profile", put(update_profile))
}

#[derive(Serialize)]
struct MeReply {
    user: OwnUserJson,
    profile: ProfileJson,
}

#[tracing::instrument(name = "me.show", skip_all, fields(user_id = me.user_id))]
async fn me(State(state): State<AppState>, me: CurrentUser) -> ApiResult<ApiJson<MeReply>> {
    let reply = state
        .auth()
        .get_user(pb::GetUserRequest {
            user_id: me.user_id,
            include_private: true,
        })
        .await?
        .into_inner();
    Ok(ApiJson(MeReply {
        user: OwnUserJson {
            user: required(reply.user, "user")?.into(),
            email: reply.email,
        },
        profile: reply.profile.unwrap_or_default().into(),
    }))
}

/// Each field: absent (`None`) is kept, `null` (`Some(None)`) clears, a value sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    birthdate: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    avatar_url: Option<Option<String>>,
}

/// Called only for a field present in the JSON, so `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

impl ProfileBody {
    /// The names of the fields to write, and their new values.
    fn into_update(self) -> (Vec<String>, pb::Profile) {
        let mut fields = Vec::new();
        let mut take = |name: &str, value: Option<Option<String>>| {
            value.inspect(|_| fields.push(name.to_owned()))
        };
        let profile = pb::Profile {
            display_name: take("display_name", self.display_name).flatten(),
            bio: take("bio", self.bio).flatten(),
            birthdate: take("birthdate", self.birthdate).flatten(),
            gender: take("gender", self.gender).flatten(),
            location: take("location", self.location).flatten(),
            avatar_url: take("avatar_url", self.avatar_url).flatten(),
        };
        (fields, profile)
    }
}

#[derive(Serialize)]
struct ProfileReply {
    profile: ProfileJson,
}

/// 200 `{profile}`; the auth service validates each field (400 names it).
#[tracing::instrument(name = "me.update_profile", skip_all, fields(user_id = me.user_id))]
async fn update_profile(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<ApiJson<ProfileReply>> {
    let (fields, profile) = body.into_update();
    let renamed = fields.iter().any(|f| f == "display_name");
    let reply = state
        .auth()
        .update_profile(pb::UpdateProfileRequest {
            user_id: me.user_id,
            fields,
            profile: Some(profile),
        })
        .await?
        .into_inner();
    let profile = reply.profile.unwrap_or_default();
    if renamed {
        announce_rename(&state, me.user_id, profile.display_name.clone()).await;
    }
    Ok(ApiJson(ProfileReply {
        profile: profile.into(),
    }))
}

/// Tells the open pages of the people I talk with (and mine) my new name.
async fn announce_rename(state: &AppState, user_id: i64, display_name: Option<String>) {
    let card = state
        .auth()
        .get_user(pb::GetUserRequest {
            user_id,
            include_private: false,
        })
        .await;
    let Some(user) = card.ok().and_then(|c| c.into_inner().user) else {
        tracing::warn!("could not read my card to announce a rename");
        return;
    };
    let mut presence = state.presence();
    let call = presence.profile_changed(ProfileChangedRequest {
        user_id,
        username: user.username,
        display_name,
    });
    crate::presence::notice("a rename", call).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_kept_and_null_fields_cleared() {
        let body: ProfileBody =
            crate::http::json::parse(br#"{"bio": null, "gender": "f"}"#).expect("valid");
        let (fields, profile) = body.into_update();
        assert_eq!(fields, ["bio", "gender"]);
        assert_eq!(profile.bio, None);
        assert_eq!(profile.gender.as_deref(), Some("f"));
        assert_eq!(profile.display_name, None);
    }

    #[test]
    fn an_unknown_field_is_refused() {
        assert!(crate::http::json::parse::<ProfileBody>(br#"{"nickname": "x"}"#).is_err());
    }
}
