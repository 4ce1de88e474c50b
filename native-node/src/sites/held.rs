//! What a site gateway holds for NATS while a connection is down (sans-IO): one queue per connection
//! ([`Purpose`]), each bounded; when a queue is full the oldest message in it is dropped (the caller counts it
//! in `nats.backlog_dropped` and logs it). A queue is sent, oldest first, when its own connection is back, so a
//! reconnect of one connection never pushes into the other while that one is down.

use std::collections::VecDeque;

use super::connection::Purpose;
use super::endpoint::Outgoing;
use super::subjects;

/// The connection a message to `subject` goes on: a Herald topic's on the topics connection, the rest on the
/// control connection.
pub(crate) fn purpose_of(subject: &str) -> Purpose {
    match subjects::subject_topic(subject) {
        Some(_) => Purpose::Topics,
        None => Purpose::Control,
    }
}

/// The held messages of both connections.
pub(crate) struct Held {
    topics: VecDeque<Outgoing>,
    control: VecDeque<Outgoing>,
    bound: usize,
}

impl Held {
    /// Empty queues of at most `bound` messages each (at least one).
    pub fn new(bound: usize) -> Held {
        Held {
            topics: VecDeque::new(),
            control: VecDeque::new(),
            bound: bound.max(1),
        }
    }

    fn queue(&mut self, purpose: Purpose) -> &mut VecDeque<Outgoing> {
        match purpose {
            Purpose::Topics => &mut self.topics,
            Purpose::Control => &mut self.control,
        }
    }

    /// Nothing is held for `purpose`'s connection.
    pub fn is_empty(&self, purpose: Purpose) -> bool {
        match purpose {
            Purpose::Topics => self.topics.is_empty(),
            Purpose::Control => self.control.is_empty(),
        }
    }

    /// Holds `message` behind the others for its connection; returns true when the oldest had to go to
    /// make room.
    pub fn push(&mut self, purpose: Purpose, message: Outgoing) -> bool {
        let bound = self.bound;
        let queue = self.queue(purpose);
        let dropped = queue.len() >= bound && queue.pop_front().is_some();
        queue.push_back(message);
        dropped
    }

    /// The oldest message held for `purpose`'s connection.
    pub fn pop(&mut self, purpose: Purpose) -> Option<Outgoing> {
        self.queue(purpose).pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(subject: &str, n: u8) -> Outgoing {
        Outgoing {
            subject: subject.to_owned().into(),
            headers: async_nats::HeaderMap::new(),
            payload: vec![n].into(),
        }
    }

    #[test]
    fn topic_subjects_go_on_the_topics_connection_and_the_rest_on_control() {
        assert_eq!(purpose_of("herald.v1.t.sensors.kitchen"), Purpose::Topics);
        for subject in [
            "herald.v1.peers.a",
            "herald.v1.sync",
            "herald.v1.direct.a.00112233445566778899aabbccddeeff",
            "herald.v1.probe.a",
        ] {
            assert_eq!(purpose_of(subject), Purpose::Control, "{subject}");
        }
    }

    #[test]
    fn each_connection_keeps_its_own_bounded_queue_oldest_dropped_first() {
        let mut held = Held::new(2);
        assert!(!held.push(Purpose::Topics, message("herald.v1.t.x", 1)));
        assert!(!held.push(Purpose::Topics, message("herald.v1.t.x", 2)));
        assert!(!held.push(Purpose::Control, message("herald.v1.sync", 9)));
        // Full: the oldest topic message goes; the control queue is untouched.
        assert!(held.push(Purpose::Topics, message("herald.v1.t.x", 3)));
        let payloads = |held: &mut Held, purpose| {
            std::iter::from_fn(|| held.pop(purpose))
                .map(|m| m.payload[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(payloads(&mut held, Purpose::Topics), vec![2, 3]);
        assert!(held.is_empty(Purpose::Topics) && !held.is_empty(Purpose::Control));
        assert_eq!(payloads(&mut held, Purpose::Control), vec![9]);
        // A bound of zero still holds one.
        let mut one = Held::new(0);
        assert!(!one.push(Purpose::Control, message("herald.v1.sync", 1)));
        assert!(one.push(Purpose::Control, message("herald.v1.sync", 2)));
    }
}
