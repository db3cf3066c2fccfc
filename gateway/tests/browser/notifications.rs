//! Desktop notifications: turned on from the settings, shown for a message
//! that arrives while the tab is hidden.

use serde_json::json;
use thirtyfour::{RequestData, SessionId, common::command::FormatRequestData};

use crate::{
    driver::{Scenario, Screen},
    page::Name,
    people::{Caller, register},
};

/// WebDriver's "Set Permission": plays the person's answer at the browser's
/// own prompt, which is outside the page.
#[derive(Debug)]
struct AllowNotifications;

impl FormatRequestData for AllowNotifications {
    fn format_request(&self, session_id: &SessionId) -> RequestData {
        RequestData::new(
            http::Method::POST,
            format!("session/{session_id}/permissions"),
        )
        .add_body(json!({"descriptor": {"name": "notifications"}, "state": "granted"}))
    }
}

/// Records what the page shows as notifications (a headless browser has no
/// screen corner to look at): the real constructor still runs.
const RECORD_JS: &str = "
const Real = window.Notification;
window.shownNotifications = [];
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.shownNotifications.push({ title, body: options?.body ?? null });
  }
};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_hidden_tab_shows_a_notification() {
    Scenario::start("notifications")
        .await
        .run(async |s| {
            let ana = s.browser("ana", Screen::Desktop).await;
            register(&ana, "ana").await;
            let ben = Caller::register(s.system.url(), "ben").await;

            ana.click("link", Name::Has("Your profile and settings"))
                .await;
            ana.find("button", Name::Is("Turn on notifications")).await;
            ana.driver
                .handle()
                .cmd(AllowNotifications)
                .await
                .expect("permission set");
            ana.click("button", Name::Is("Turn on notifications")).await;
            let setting = ana
                .find("checkbox", Name::Is("Notify me of new messages"))
                .await;
            assert!(setting.is_selected().await.expect("checkbox state"));
            ana.measure(RECORD_JS).await;

            // Ana goes to another tab; Ben writes.
            ana.measure("window.open('about:blank'); return null;")
                .await;
            let tabs = ana.driver.windows().await.expect("tabs");
            ana.driver
                .switch_to_window(tabs[1].clone())
                .await
                .expect("the other tab");
            let hidden = ana
                .measure("return window.opener.document.visibilityState;")
                .await;
            assert_eq!(hidden, "hidden", "Totilove's tab is in the background");
            ben.send("ana", "Are you there?").await;
            let shown = ana
                .eventually("a notification", async || {
                    let shown = ana
                        .measure("return window.opener.shownNotifications;")
                        .await;
                    shown
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
                        .then_some(shown)
                })
                .await;
            assert_eq!(shown, json!([{"title": "ben", "body": "Are you there?"}]));

            // Back on Totilove's tab: the message waits in the list.
            ana.driver
                .switch_to_window(tabs[0].clone())
                .await
                .expect("Totilove's tab");
            ana.find("link", Name::Has("1 unread message")).await;
        })
        .await;
}
