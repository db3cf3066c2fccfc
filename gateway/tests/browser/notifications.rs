//! Desktop notifications: turned on from the settings, shown for a message
//! that arrives while the tab is hidden, without who and what once previews
//! are off; the service worker and the manifest that Web Push and
//! installing on a phone need. (The pushes themselves are tested against a
//! local push service in tests/api/push.rs: a headless browser reaches no
//! real one.)

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

            // The other settings of this browser.
            let sound = ana.find("checkbox", Name::Is("Play a sound")).await;
            assert!(!sound.is_selected().await.expect("checkbox state"));
            ana.find("checkbox", Name::Is("Also when Totilove is closed"))
                .await;
            ana.click("checkbox", Name::Is("Show who wrote and what"))
                .await;

            // What pushes and installing need: the worker runs, the manifest is served.
            let worker = ana
                .measure(
                    "return navigator.serviceWorker.ready.then((r) => r.active && r.active.scriptURL);",
                )
                .await;
            assert_eq!(worker, format!("{}/sw.js", s.system.url()));
            let manifest = ana
                .measure(
                    "return fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json());",
                )
                .await;
            assert_eq!(manifest["name"], "Totilove");
            assert_eq!(manifest["start_url"], "/");

            // Previews off: the next notification says neither who nor what.
            ana.driver
                .switch_to_window(tabs[1].clone())
                .await
                .expect("the other tab");
            ben.send("ana", "A secret").await;
            let shown = ana
                .eventually("a second notification", async || {
                    let shown = ana
                        .measure("return window.opener.shownNotifications;")
                        .await;
                    shown
                        .as_array()
                        .is_some_and(|a| a.len() == 2)
                        .then_some(shown)
                })
                .await;
            assert_eq!(shown[1], json!({"title": "New message", "body": ""}));
        })
        .await;
}
