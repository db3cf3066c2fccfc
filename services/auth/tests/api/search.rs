//! Searching people by name prefix, page by page.

use totilove_common::{Code, Error};
use totilove_proto::auth::v1::{
    BlockRequest, Profile, SearchUsersRequest, SearchUsersResponse, UpdateProfileRequest,
};

use crate::helpers::TestApp;

impl TestApp {
    async fn search(
        &self,
        viewer_id: i64,
        query: &str,
        limit: u32,
        cursor: &str,
    ) -> Result<SearchUsersResponse, Error> {
        self.auth()
            .search_users(SearchUsersRequest {
                viewer_id,
                query: query.to_owned(),
                limit,
                cursor: cursor.to_owned(),
            })
            .await
            .map(|r| r.into_inner())
            .map_err(Into::into)
    }
}

fn names(page: &SearchUsersResponse) -> Vec<&str> {
    page.users.iter().map(|u| u.username.as_str()).collect()
}

#[tokio::test]
async fn search_matches_a_prefix_of_username_or_display_name_in_any_case() {
    let app = TestApp::start().await;
    let viewer = app.register("viewer").await;
    for name in ["Anna", "annabel", "Bob", "an_other", "anx"] {
        app.register(name).await;
    }
    let bob = app.register("zed").await;
    app.auth()
        .update_profile(UpdateProfileRequest {
            user_id: bob.id,
            fields: vec!["display_name".into()],
            profile: Some(Profile {
                display_name: Some("ANNIE the zed".into()),
                ..Profile::default()
            }),
        })
        .await
        .expect("updated");

    let page = app.search(viewer.id, "aN", 0, "").await.expect("found");
    assert_eq!(
        names(&page),
        vec!["an_other", "Anna", "annabel", "anx", "zed"]
    );
    assert_eq!(page.next_cursor, None);
    // `_` is matched literally, not as a wildcard.
    let page = app.search(viewer.id, "an_", 0, "").await.expect("found");
    assert_eq!(names(&page), vec!["an_other"]);
}

#[tokio::test]
async fn search_pages_with_an_opaque_cursor_until_the_last_page() {
    let app = TestApp::start().await;
    let viewer = app.register("viewer").await;
    for i in 0..7 {
        app.register(&format!("user{i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .search(viewer.id, "user", 3, &cursor)
            .await
            .expect("found");
        pages += 1;
        seen.extend(names(&page).into_iter().map(str::to_owned));
        match page.next_cursor {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).map(|i| format!("user{i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn search_leaves_out_the_viewer_and_anyone_blocked_either_way() {
    let app = TestApp::start().await;
    let viewer = app.register("sam").await;
    let blocked_by_me = app.register("sally").await;
    let blocking_me = app.register("sasha").await;
    app.register("simon").await;
    for (user_id, target_id) in [(viewer.id, blocked_by_me.id), (blocking_me.id, viewer.id)] {
        app.auth()
            .block(BlockRequest { user_id, target_id })
            .await
            .expect("blocked");
    }
    let page = app.search(viewer.id, "s", 0, "").await.expect("found");
    assert_eq!(names(&page), vec!["simon"]);
}

#[tokio::test]
async fn a_limit_over_100_or_a_forged_cursor_is_an_invalid_request() {
    let app = TestApp::start().await;
    let viewer = app.register("viewer").await;
    let err = app
        .search(viewer.id, "", 101, "")
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::InvalidRequest);
    assert!(err.message.contains("limit"));
    let err = app
        .search(viewer.id, "", 10, "'; DROP TABLE users")
        .await
        .expect_err("refused");
    assert_eq!(err.code, Code::InvalidRequest);
    assert!(err.message.contains("cursor"));
}
