//! Reporting (from a message), blocking and unblocking as both people see
//! it, and a rename reaching the other side: live, on pages already open (no
//! reload).

use crate::{
    driver::{Scenario, Screen},
    page::Name,
    people::register,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_block_and_unblock_as_both_people_see_it() {
    Scenario::start("blocking")
        .await
        .run(async |s| {
            let (ana, ben) = tokio::join!(
                s.browser("ana", Screen::Desktop),
                s.browser("ben", Screen::Desktop)
            );
            tokio::join!(register(&ana, "ana"), register(&ben, "ben"));
            ben.click("link", Name::Is("Find people")).await;
            ben.type_in("Search people by name or username", "ana")
                .await;
            ben.click("link", Name::Is("Message ana")).await;
            ben.type_in("Message to ana", "buy cheap watches").await;
            ben.press_enter("Message to ana").await;

            // Ana opens the chat, sees Ben online, and reports his message from it.
            ana.click("link", Name::Has("1 unread message")).await;
            let chat = ana.find("region", Name::Is("ben")).await;
            ana.sees(Some(&chat), "buy cheap watches").await;
            ana.find_in(Some(&chat), "img", Name::Is("Online")).await;
            ana.click_in(Some(&chat), "link", Name::Is("Report this message"))
                .await;
            ana.choose("Reason", "Spam").await;
            ana.type_in("Anything to add? (optional)", "selling watches")
                .await;
            let evidence = ana
                .find("checkbox", Name::Has("Include this message"))
                .await;
            assert!(
                evidence.is_selected().await.expect("checkbox state"),
                "the message she chose goes with the report unless Ana says otherwise"
            );
            ana.click("button", Name::Is("Send report")).await;
            ana.sees(None, "your report about ben was sent").await;

            // Reporting offers blocking too.
            ana.click("button", Name::Is("Block ben")).await;
            ana.click("button", Name::Is("Block ben")).await; // the confirmation
            ana.find("heading", Name::Is("You blocked ben")).await;

            // Ana's list and chat: no presence, "You blocked ben" and the way back.
            let conv = ana.find("link", Name::Has("ben, blocked")).await;
            assert!(
                !ana.has(Some(&conv), "img", Name::Is("Online")).await,
                "a blocked person shows no online dot in the list"
            );
            ana.click("link", Name::Has("ben, blocked")).await;
            let chat = ana.find("region", Name::Is("ben")).await;
            ana.sees(Some(&chat), "You blocked ben").await;
            assert!(!ana.has(Some(&chat), "img", Name::Is("Online")).await);
            assert!(
                !ana.text(Some(&chat)).await.contains("not available"),
                "Ana blocked him herself: she is told so, not that he is unavailable"
            );

            // Ben, on the chat he had open: Ana is not available, no presence.
            let ben_chat = ben.find("region", Name::Is("ana")).await;
            ben.sees(Some(&ben_chat), "not available").await;
            ben.gone(Some(&ben_chat), "img", Name::Is("Online")).await;
            ben.gone(None, "img", Name::Is("Online")).await;
            let composer = ben.field("Message to ana").await;
            assert!(
                !composer.is_enabled().await.expect("enabled"),
                "Ben cannot write to someone who blocked him"
            );

            // Ana unblocks from the chat: Ben can write again at once, then she writes.
            ana.click_in(Some(&chat), "button", Name::Is("Unblock ben"))
                .await;
            ben.no_longer_sees(Some(&ben_chat), "not available").await;
            ben.eventually("the composer enabled by the unblock", async || {
                ben.field("Message to ana")
                    .await
                    .is_enabled()
                    .await
                    .ok()
                    .filter(|enabled| *enabled)
            })
            .await;
            ana.type_in("Message to ben", "Sorry, wrong button").await;
            ana.press_enter("Message to ben").await;
            ben.sees(Some(&ben_chat), "Sorry, wrong button").await;

            // Ben renames himself; Ana's open chat and her list follow at once.
            ben.click("link", Name::Has("Your profile and settings"))
                .await;
            ben.fill("Display name", "Benjamin").await;
            ben.click("button", Name::Is("Save profile")).await;
            ben.sees(None, "Your profile is saved.").await;
            let chat = ana.find("region", Name::Is("Benjamin")).await;
            ana.find_in(Some(&chat), "link", Name::Is("Benjamin")).await;
            ana.find("link", Name::Has("Benjamin")).await;
        })
        .await;
}
