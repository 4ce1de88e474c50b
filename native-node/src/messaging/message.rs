//! [`Message`]: a message as a [`Subscription`](super::Subscription) yields it. Its parts are shared, not
//! owned: the payload is a reference-counted slice of the buffer its link read it into; the sender's name and
//! the topic are [`SmolStr`]s, held inline when short (up to 23 bytes: no allocation, and nothing the link's
//! reader and the subscription's reader, on different cores, would both write) and shared by the link's
//! messages when longer. So a delivered message costs no allocation, and copying one (to several
//! subscriptions) costs at most a reference count.
//!
//! [`MessageEvent`] (in `core`) is the owned form the bridge, the dashboard and the event stream use; the two
//! convert both ways.

use bytes::Bytes;
use herald_core::bridge::MessageEvent;
use herald_core::{NodeId, Payload};
use smol_str::SmolStr;

/// A message received on a topic (or sent directly: no topic).
///
/// The payload shares the read buffer it arrived in (64 KiB, or the frame's size when larger): a program that
/// keeps a few messages out of many for long should copy their payloads (`Bytes::copy_from_slice`), or the
/// buffers stay alive with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender's id.
    pub from: NodeId,
    /// The sender's name.
    pub from_name: SmolStr,
    /// The topic, or `None` for a direct message.
    pub topic: Option<SmolStr>,
    /// The bytes.
    pub payload: Bytes,
    /// When received (unix ms).
    pub at_ms: u64,
}

impl Message {
    /// The payload as text, when it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The owned form (copies the parts).
    pub fn to_event(&self) -> MessageEvent {
        MessageEvent {
            from: self.from,
            from_name: self.from_name.to_string(),
            topic: self.topic.as_deref().map(str::to_owned),
            payload: Payload(self.payload.to_vec()),
            at_ms: self.at_ms,
        }
    }
}

impl From<Message> for MessageEvent {
    fn from(message: Message) -> MessageEvent {
        message.to_event()
    }
}

impl From<MessageEvent> for Message {
    /// Takes the event's parts over (the payload without a copy).
    fn from(event: MessageEvent) -> Message {
        Message {
            from: event.from,
            from_name: event.from_name.into(),
            topic: event.topic.map(SmolStr::from),
            payload: Bytes::from(event.payload.0),
            at_ms: event.at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owned_form_round_trips() {
        let event = MessageEvent {
            from: NodeId([7; 16]),
            from_name: "alpha".into(),
            topic: Some("sensors.kitchen".into()),
            payload: Payload::from("21.5 C"),
            at_ms: 1_700_000_000_000,
        };
        let message = Message::from(event.clone());
        assert_eq!(message.text(), Some("21.5 C"));
        assert_eq!(message.to_event(), event);
        let direct = MessageEvent {
            topic: None,
            ..event
        };
        assert_eq!(MessageEvent::from(Message::from(direct.clone())), direct);
    }
}
