//! The message events `round.lua` publishes: it wraps each cached entry
//! (serde's JSON of the message) in the event by hand, to send the message's
//! text to Redis once per round instead of three times. These tests hold it
//! to the bytes serde would write for the same `Event`.

use totilove_common::events::Event;

use crate::helpers::App;

#[tokio::test]
async fn the_published_message_events_are_byte_for_byte_the_serde_events() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut watcher = app.watch(&[alice, bob]).await;
    let contents = [
        "plain",
        "quotes \" and 'single' and a backslash \\ and a slash /",
        "line one\nline two\r\n\ttabbed",
        "unicode: żółć 😀 \u{202e}rtl\u{202c} \u{2028}\u{2029} and \u{1}",
        "<script>alert(\"x\")</script> {\"json\":\"inside\"}",
    ];
    let mut sent = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let (from, to) = if i % 2 == 0 {
            (alice, bob)
        } else {
            (bob, alice)
        };
        sent.push(app.sent(from, to, content).await);
    }
    let last = sent.last().map_or(0, |m| m.id);
    watcher.until_message(alice, last).await;
    watcher.until_message(bob, last).await;

    for person in [alice, bob] {
        let raw = watcher.raw.get(&person).cloned().unwrap_or_default();
        assert_eq!(raw.len(), contents.len(), "one event per message");
        for (payload, message) in raw.iter().zip(&sent) {
            let event = Event::from_json(payload).expect("a message event");
            assert_eq!(&event.to_json(), payload, "serde writes the same bytes");
            let Event::Message { message: json, .. } = event else {
                panic!("not a message event: {payload}");
            };
            assert_eq!(json.id, message.id);
            assert_eq!(json.content, message.content, "the text arrives exactly");
        }
    }
}
