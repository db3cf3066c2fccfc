//! People's event channels, listened to the way a gateway does: what the
//! services publish, as it arrives.

use std::{collections::HashMap, time::Duration};

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, EventInterface, PubsubInterface},
    types::{Builder, Message, config::Config},
};
use tokio::sync::broadcast;
use totilove_common::events::{Event, user_channel};

use crate::PATIENCE;

/// Subscribed to some people's channels on a Redis.
#[derive(Debug)]
pub struct EventWatcher {
    _client: SubscriberClient,
    events: broadcast::Receiver<Message>,
    /// Channel name to the person it belongs to.
    channels: HashMap<String, i64>,
}

impl EventWatcher {
    /// Subscribed (once this returns) to the channels of `people`.
    pub async fn of(redis_url: &str, people: &[i64]) -> Self {
        let client = Builder::from_config(Config::from_url(redis_url).expect("a Redis URL"))
            // Bursty tests publish thousands of events before reading any.
            .with_performance_config(|p| p.broadcast_channel_capacity = 1 << 16)
            .build_subscriber_client()
            .expect("a subscriber");
        client.init().await.expect("Redis is up");
        let events = client.message_rx();
        let channels: HashMap<String, i64> = people.iter().map(|&p| (user_channel(p), p)).collect();
        client
            .subscribe(channels.keys().cloned().collect::<Vec<_>>())
            .await
            .expect("subscribed");
        Self {
            _client: client,
            events,
            channels,
        }
    }

    /// The next event and whose it is, if one comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<(i64, Event)> {
        let (person, raw) = self.next_payload_within(within).await?;
        let event = Event::from_json(&raw).unwrap_or_else(|| panic!("a known event: {raw}"));
        Some((person, event))
    }

    /// The next payload as published, byte for byte, and whose it is.
    pub async fn next_payload_within(&mut self, within: Duration) -> Option<(i64, String)> {
        let message = tokio::time::timeout(within, self.events.recv())
            .await
            .ok()?
            .expect("the subscriber keeps up");
        let person = self.channels[&message.channel.to_string()];
        Some((person, message.value.convert().expect("a text payload")))
    }

    /// The next event, which must come within [`PATIENCE`].
    pub async fn next(&mut self) -> (i64, Event) {
        self.next_within(PATIENCE)
            .await
            .expect("an event within the patience")
    }
}
