//! The phone layout (390×844, a touch screen): one pane at a time, nothing
//! wider than the screen, the composer within reach.

use crate::{
    driver::{Scenario, Screen},
    page::Name,
    people::{Caller, register},
};

/// The page's width beyond the screen's, and whether the Send button lies
/// wholly on screen.
const LAYOUT_JS: &str = "
const box = document.querySelector('button.send')?.getBoundingClientRect();
return {
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  width: window.innerWidth,
  send_on_screen: !!box && box.left >= 0 && box.right <= window.innerWidth && box.top >= 0 && box.bottom <= window.innerHeight,
};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_one_pane_shows_at_a_time() {
    Scenario::start("phone")
        .await
        .run(async |s| {
            let ana = s.browser("ana", Screen::Phone).await;
            register(&ana, "ana").await;
            let ben = Caller::register(s.system.url(), "ben").await;
            ben.send("ana", "Hi Ana! Coffee on Sunday?").await;

            // The list fills the screen; the welcome pane is not shown beside it.
            ana.find("link", Name::Has("1 unread message")).await;
            assert!(
                !ana.text(None).await.contains("Pick a conversation"),
                "only the list shows on a phone"
            );
            let list = ana.find("navigation", Name::Is("Your conversations")).await;
            ana.click("link", Name::Has("1 unread message")).await;

            // The chat alone, with the composer on screen.
            let chat = ana.find("region", Name::Is("ben")).await;
            ana.sees(Some(&chat), "Coffee on Sunday?").await;
            ana.eventually("the list hidden behind the chat", async || {
                (!list.is_displayed().await.unwrap_or(true)).then_some(())
            })
            .await;
            let layout = ana.measure(LAYOUT_JS).await;
            assert_eq!(layout["width"], 390, "the phone's width");
            assert_eq!(layout["overflow"], 0, "nothing wider than the screen");
            assert_eq!(
                layout["send_on_screen"], true,
                "the Send button is on screen"
            );

            // On a touch screen Enter makes a new line; the Send button sends.
            ana.type_in("Message to ben", "Sunday works!").await;
            ana.click_in(Some(&chat), "button", Name::Is("Send")).await;
            ana.find_in(Some(&chat), "img", Name::Is("Sent")).await;
            ana.sees(Some(&chat), "Sunday works!").await;

            // Back to the list.
            ana.click_in(Some(&chat), "link", Name::Is("Back to conversations"))
                .await;
            ana.eventually("the list back on screen", async || {
                list.is_displayed().await.ok().filter(|shown| *shown)
            })
            .await;
            ana.find("link", Name::Has("you (sent): Sunday works!"))
                .await;
        })
        .await;
}
