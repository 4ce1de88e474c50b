//! The message feed: messages on the topics this page subscribed to and direct messages to the node, newest
//! last, bounded; it can be paused (new messages wait, counted) and cleared.

use std::collections::VecDeque;

use herald_core::bridge::MessageEvent;

/// Messages shown at most; older ones scroll away.
pub const MAX_FEED: usize = 500;

/// The feed.
#[derive(Debug, Default, Clone)]
pub struct Feed {
    /// Messages with their number of arrival (the key of their row).
    shown: VecDeque<(u64, MessageEvent)>,
    held: VecDeque<(u64, MessageEvent)>,
    paused: bool,
    arrived: u64,
    /// Messages that scrolled away or were over the bound while paused.
    pub dropped: u64,
}

impl Feed {
    /// A new message: shown, or held while paused.
    pub fn push(&mut self, message: MessageEvent) {
        self.arrived += 1;
        self.push_numbered((self.arrived, message));
    }

    fn push_numbered(&mut self, message: (u64, MessageEvent)) {
        let queue = if self.paused {
            &mut self.held
        } else {
            &mut self.shown
        };
        queue.push_back(message);
        if queue.len() > MAX_FEED {
            queue.pop_front();
            self.dropped += 1;
        }
    }

    /// Pauses or resumes; resuming shows what was held.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            for message in std::mem::take(&mut self.held) {
                self.push_numbered(message);
            }
        }
    }

    /// Whether the feed is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Messages waiting while paused.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Empties the feed (held messages too).
    pub fn clear(&mut self) {
        self.shown.clear();
        self.held.clear();
    }

    /// The messages shown, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &MessageEvent> {
        self.shown.iter().map(|(_, message)| message)
    }

    /// The newest `n` messages shown, newest first, with their numbers of arrival.
    pub fn newest(&self, n: usize) -> impl Iterator<Item = &(u64, MessageEvent)> {
        self.shown.iter().rev().take(n)
    }

    /// Messages shown.
    pub fn len(&self) -> usize {
        self.shown.len()
    }

    /// True when no message is shown.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// The message's body as shown: its text, or its size and base64 for bytes.
    pub fn body(message: &MessageEvent) -> String {
        match message.payload.as_text() {
            Some(text) => text.to_owned(),
            None => format!("({} bytes)", message.payload.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::NodeId;

    fn message(text: &str) -> MessageEvent {
        MessageEvent {
            from: NodeId::from_bytes([1; 16]),
            from_name: "alpha".into(),
            topic: Some("chat".into()),
            payload: text.into(),
            at_ms: 1,
        }
    }

    fn texts(feed: &Feed) -> Vec<String> {
        feed.messages().map(Feed::body).collect()
    }

    #[test]
    fn pausing_holds_messages_and_resuming_shows_them_in_order() {
        let mut feed = Feed::default();
        feed.push(message("one"));
        feed.set_paused(true);
        feed.push(message("two"));
        feed.push(message("three"));
        assert_eq!(texts(&feed), ["one"]);
        assert_eq!(feed.held(), 2);
        feed.set_paused(false);
        assert_eq!(texts(&feed), ["one", "two", "three"]);
        feed.clear();
        assert!(texts(&feed).is_empty());
    }

    #[test]
    fn the_feed_is_bounded_and_counts_what_scrolled_away() {
        let mut feed = Feed::default();
        for n in 0..(MAX_FEED + 3) {
            feed.push(message(&n.to_string()));
        }
        assert_eq!(feed.messages().count(), MAX_FEED);
        assert_eq!(feed.dropped, 3);
        assert_eq!(texts(&feed)[0], "3");
        let bytes = MessageEvent {
            payload: vec![0xff, 0xfe].into(),
            ..message("")
        };
        assert_eq!(Feed::body(&bytes), "(2 bytes)");
    }
}
