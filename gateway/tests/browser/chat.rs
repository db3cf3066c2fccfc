//! Two people meet and talk live: search, messages shown as text (markup and
//! right-to-left script), unread badges, ticks, typing, presence, the
//! "New messages" line, and the privacy switches for online status and read
//! receipts.

use thirtyfour::By;

use crate::{
    driver::{Scenario, Screen},
    page::Name,
    people::register,
};

const MARKUP: &str = "<script>alert('hi')</script> <b>bold?</b>";
const ARABIC: &str = "مرحبا، كيف حالك؟";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_find_each_other_and_talk_live() {
    Scenario::start("chat")
        .await
        .run(async |s| {
            let (ana, ben) = tokio::join!(
                s.browser("ana", Screen::Desktop),
                s.browser("ben", Screen::Desktop)
            );
            tokio::join!(register(&ana, "ana"), register(&ben, "ben"));

            // Ana finds Ben and writes first, while Ben looks at his list.
            ana.click("link", Name::Is("Find people")).await;
            ana.type_in("Search people by name or username", "b").await;
            // The row Ana is about to tap stays the same while she types on
            // (a re-drawn list would put another row under her finger).
            let row = ana.find("link", Name::Is("Message ben")).await;
            ana.type_in("Search people by name or username", "en").await;
            let results = ana.find("list", Name::Is("People")).await;
            ana.eventually("the search for “ben” answered", async || {
                let busy = results.attr("aria-busy").await.ok()?;
                busy.is_none().then_some(())
            })
            .await;
            row.click()
                .await
                .expect("the row found before typing on is still the one on screen");
            let ana_chat = ana.find("region", Name::Is("ben")).await;
            ana.type_in("Message to ben", MARKUP).await;
            ana.press_enter("Message to ben").await;
            ana.type_in("Message to ben", ARABIC).await;
            ana.press_enter("Message to ben").await;
            // Ben's socket got them: delivered, not read.
            ana.find_in(Some(&ana_chat), "img", Name::Is("Delivered"))
                .await;
            assert!(
                !ana.has(Some(&ana_chat), "img", Name::Is("Read")).await,
                "Ben has not opened the chat: nothing is read yet"
            );

            // Ben: an unread badge, in the list and the tab's title.
            ben.find("link", Name::Has("2 unread messages")).await;
            ben.eventually("(2) in the title", async || {
                ben.title().await.starts_with("(2)").then_some(())
            })
            .await;
            ben.click("link", Name::Has("2 unread messages")).await;
            let log = ben.find("log", Name::Is("ana")).await;
            ben.sees(Some(&log), MARKUP).await;
            ben.sees(Some(&log), ARABIC).await;
            let injected = log.find_all(By::Tag("script")).await.expect("query");
            assert!(injected.is_empty(), "message content became markup");
            let direction = ben
                .measure(
                    "return [...document.querySelectorAll('[role=log] [dir=auto]')]
                       .filter((p) => p.textContent.includes('مرحبا'))
                       .map((p) => getComputedStyle(p).direction);",
                )
                .await;
            assert_eq!(
                direction,
                serde_json::json!(["rtl"]),
                "Arabic reads right to left"
            );
            ben.find_in(Some(&log), "separator", Name::Is("New messages"))
                .await;
            ben.gone(None, "link", Name::Has("unread message")).await;
            assert_eq!(ben.title().await, "Totilove");

            // Ana sees both read, by a tick that says so.
            ana.find_in(Some(&ana_chat), "img", Name::Is("Read")).await;
            ana.gone(Some(&ana_chat), "img", Name::Is("Delivered"))
                .await;

            // Ben types: Ana sees it, and sees him online.
            ana.find_in(Some(&ana_chat), "img", Name::Is("Online"))
                .await;
            ben.type_in("Message to ana", "Hello Ana, nice to meet you")
                .await;
            ana.sees(Some(&ana_chat), "typing…").await;
            ben.press_enter("Message to ana").await;
            ana.sees(Some(&ana_chat), "Hello Ana, nice to meet you")
                .await;
            ana.no_longer_sees(Some(&ana_chat), "typing…").await;
            // Replying ends Ben's "New messages" line.
            ben.gone(Some(&log), "separator", Name::Is("New messages"))
                .await;

            // Ben hides his online status: Ana sees him offline.
            ben.click("link", Name::Has("Your profile and settings"))
                .await;
            ben.click("checkbox", Name::Is("Show when I am online"))
                .await;
            ben.sees(None, "Your privacy settings are saved.").await;
            // (Offline shows no dot at all.)
            ana.gone(Some(&ana_chat), "img", Name::Is("Online")).await;

            // A reload keeps both the session and the setting.
            ben.reload().await;
            let setting = ben
                .find("checkbox", Name::Is("Show when I am online"))
                .await;
            assert!(
                !setting.is_selected().await.expect("checkbox state"),
                "the setting was saved"
            );
            ben.find("link", Name::Has("ana")).await;

            // Ben stops sending read receipts: what he reads now stays delivered for Ana.
            ben.click("checkbox", Name::Is("Send read receipts")).await;
            ben.sees(None, "Your privacy settings are saved.").await;
            ana.type_in("Message to ben", "Still there?").await;
            ana.press_enter("Message to ben").await;
            ana.find_in(Some(&ana_chat), "img", Name::Is("Delivered"))
                .await;
            ben.click("link", Name::Has("1 unread message")).await;
            ben.gone(None, "link", Name::Has("unread message")).await;
            // His reply comes after his read on Ana's socket: a receipt would be there by now.
            ben.type_in("Message to ana", "Yes").await;
            ben.press_enter("Message to ana").await;
            ana.sees(Some(&ana_chat), "Yes").await;
            assert!(
                ana.has(Some(&ana_chat), "img", Name::Is("Delivered")).await,
                "read without a receipt: Ana still sees it delivered"
            );
        })
        .await;
}
