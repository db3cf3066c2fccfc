//! People's cards and profiles: reading, updating, clearing, validating.

use chrono::{Datelike, Utc};
use totilove_common::{Code, Error};
use totilove_proto::auth::v1::{
    GetUserRequest, GetUserResponse, GetUsersRequest, Profile, UpdateProfileRequest,
};

use crate::helpers::TestApp;

impl TestApp {
    async fn get_user(
        &self,
        user_id: i64,
        include_private: bool,
    ) -> Result<GetUserResponse, Error> {
        self.auth()
            .get_user(GetUserRequest {
                user_id,
                include_private,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Into::into)
    }

    async fn update_profile(
        &self,
        user_id: i64,
        fields: &[&str],
        profile: Profile,
    ) -> Result<Profile, Error> {
        self.auth()
            .update_profile(UpdateProfileRequest {
                user_id,
                fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                profile: Some(profile),
            })
            .await
            .map(|r| r.into_inner().profile.expect("a profile"))
            .map_err(Into::into)
    }
}

fn full_profile() -> Profile {
    Profile {
        display_name: Some("Alice A. 🌸".into()),
        bio: Some("Likes long walks.\nAnd short ones.".into()),
        birthdate: Some("1990-05-17".into()),
        gender: Some("woman".into()),
        location: Some("Lyon".into()),
        avatar_url: Some("https://cdn.example.com/a/alice.png?s=200".into()),
    }
}

const ALL_FIELDS: &[&str] = &[
    "display_name",
    "bio",
    "birthdate",
    "gender",
    "location",
    "avatar_url",
];

#[tokio::test]
async fn a_new_person_has_an_empty_profile_and_the_email_only_privately() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let public = app.get_user(alice.id, false).await.expect("found");
    assert_eq!(public.user.expect("a card").username, "alice");
    assert_eq!(public.profile, Some(Profile::default()));
    assert_eq!(public.email, None);
    let private = app.get_user(alice.id, true).await.expect("found");
    assert_eq!(private.email.as_deref(), Some("alice@example.com"));
}

#[tokio::test]
async fn an_unknown_person_is_not_found_and_left_out_of_batches() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    assert_eq!(
        app.get_user(alice.id + 1000, false)
            .await
            .expect_err("unknown")
            .code,
        Code::NotFound
    );
    assert_eq!(
        app.get_user(0, false).await.expect_err("invalid").code,
        Code::InvalidRequest
    );
    let users = app
        .auth()
        .get_users(GetUsersRequest {
            user_ids: vec![bob.id, 999_999, alice.id, bob.id],
        })
        .await
        .expect("answered")
        .into_inner()
        .users;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![alice.id, bob.id]);
}

#[tokio::test]
async fn updating_writes_the_listed_fields_and_keeps_the_others() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let written = app
        .update_profile(alice.id, ALL_FIELDS, full_profile())
        .await
        .expect("updated");
    assert_eq!(written, full_profile());

    // Only `location` is listed: the other values sent are ignored.
    let moved = app
        .update_profile(
            alice.id,
            &["location"],
            Profile {
                location: Some("Paris".into()),
                display_name: Some("ignored".into()),
                ..Profile::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(moved.location.as_deref(), Some("Paris"));
    assert_eq!(moved.display_name, full_profile().display_name);

    let read = app.get_user(alice.id, false).await.expect("found");
    assert_eq!(read.profile, Some(moved));
    assert_eq!(
        read.user.expect("a card").display_name,
        full_profile().display_name
    );
}

#[tokio::test]
async fn a_listed_field_without_a_value_is_cleared() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    app.update_profile(alice.id, ALL_FIELDS, full_profile())
        .await
        .expect("updated");
    let cleared = app
        .update_profile(
            alice.id,
            &["bio", "avatar_url", "birthdate"],
            Profile::default(),
        )
        .await
        .expect("updated");
    assert_eq!(
        cleared,
        Profile {
            bio: None,
            avatar_url: None,
            birthdate: None,
            ..full_profile()
        }
    );
}

#[tokio::test]
async fn each_invalid_profile_value_is_refused_with_a_message_naming_it() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let today = Utc::now().date_naive();
    let seventeen = format!(
        "{:04}-{:02}-{:02}",
        today.year() - 17,
        today.month(),
        today.day().min(28)
    );
    let cases: Vec<(&str, Profile)> = vec![
        (
            "display_name",
            Profile {
                display_name: Some("x".repeat(51)),
                ..Profile::default()
            },
        ),
        (
            "display_name",
            Profile {
                display_name: Some("a\u{7}b".into()),
                ..Profile::default()
            },
        ),
        (
            "bio",
            Profile {
                bio: Some("é".repeat(501)),
                ..Profile::default()
            },
        ),
        (
            "birthdate",
            Profile {
                birthdate: Some("1990-5-17".into()),
                ..Profile::default()
            },
        ),
        (
            "birthdate",
            Profile {
                birthdate: Some("17/05/1990".into()),
                ..Profile::default()
            },
        ),
        (
            "birthdate",
            Profile {
                birthdate: Some("1990-02-30".into()),
                ..Profile::default()
            },
        ),
        (
            "birthdate",
            Profile {
                birthdate: Some(seventeen),
                ..Profile::default()
            },
        ),
        (
            "gender",
            Profile {
                gender: Some("g".repeat(51)),
                ..Profile::default()
            },
        ),
        (
            "location",
            Profile {
                location: Some("l".repeat(101)),
                ..Profile::default()
            },
        ),
        (
            "avatar_url",
            Profile {
                avatar_url: Some("http://example.com/a.png".into()),
                ..Profile::default()
            },
        ),
        (
            "avatar_url",
            Profile {
                avatar_url: Some("javascript:alert(1)".into()),
                ..Profile::default()
            },
        ),
        (
            "avatar_url",
            Profile {
                avatar_url: Some("https://".into()),
                ..Profile::default()
            },
        ),
        (
            "avatar_url",
            Profile {
                avatar_url: Some("https://example.com/a b.png".into()),
                ..Profile::default()
            },
        ),
        (
            "avatar_url",
            Profile {
                avatar_url: Some(format!("https://example.com/{}", "a".repeat(490))),
                ..Profile::default()
            },
        ),
    ];
    for (field, profile) in cases {
        let err = app
            .update_profile(alice.id, &[field], profile.clone())
            .await
            .expect_err("refused");
        assert_eq!(err.code, Code::InvalidRequest, "{profile:?}");
        assert!(err.message.contains(field), "{field}: {}", err.message);
    }
    let err = app
        .update_profile(alice.id, &["password_hash"], Profile::default())
        .await
        .expect_err("not a profile field");
    assert_eq!(err.code, Code::InvalidRequest);
    // Nothing was written by the refused updates.
    let read = app.get_user(alice.id, false).await.expect("found");
    assert_eq!(read.profile, Some(Profile::default()));
}

#[tokio::test]
async fn someone_exactly_eighteen_today_may_give_their_birthdate() {
    let app = TestApp::start().await;
    let alice = app.register("alice").await;
    let today = Utc::now().date_naive();
    let eighteen = today
        .checked_sub_months(chrono::Months::new(18 * 12))
        .expect("a date")
        .format("%Y-%m-%d")
        .to_string();
    let profile = app
        .update_profile(
            alice.id,
            &["birthdate"],
            Profile {
                birthdate: Some(eighteen.clone()),
                ..Profile::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(profile.birthdate, Some(eighteen));
}
