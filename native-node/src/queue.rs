//! The outbound queue of one link, sans-IO: bounded, with a named [`OverflowPolicy`] for when it is full.
//!
//! Only topic messages (`Publish`) are ever dropped: with [`OverflowPolicy::DropOldest`] a full queue drops its
//! oldest queued `Publish`, counts it per topic, and the writer sends `Missed { topic, count }` before that
//! topic's next message, so the subscriber learns exactly what it lost. Control traffic (questions, answers,
//! direct messages, subscriptions) is never dropped silently: if the queue is full of it, the push fails and
//! the link is closed as too slow. The writer drains frames in batches so small messages share a write.
//!
//! A topic message is queued already encoded ([`EncodedPublish`]): a publisher encodes it once and every link
//! to a subscriber queues a copy of those bytes (a small message, copied whole) or a share of them (a larger
//! one).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use herald_core::frame::{self, Frame, FrameView, RelayedFrom};
use herald_core::EncodeError;

/// Default capacity, in frames, of a link's outbound queue.
pub const DEFAULT_QUEUE_FRAMES: usize = 8192;

/// What a full queue does with one more topic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop the oldest queued topic message, count it, and tell the subscriber (`Missed`). The default: a slow
    /// subscriber loses its oldest messages and never slows anyone else.
    #[default]
    DropOldest,
    /// Close the link to the slow subscriber (it reconnects and resubscribes).
    Disconnect,
    /// Make the publisher wait for room: lossless, and the publisher goes at the slowest subscriber's pace.
    Block,
}

impl std::str::FromStr for OverflowPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drop-oldest" => Ok(OverflowPolicy::DropOldest),
            "disconnect" => Ok(OverflowPolicy::Disconnect),
            "block" => Ok(OverflowPolicy::Block),
            other => Err(format!(
                "unknown overflow policy {other:?} (drop-oldest, disconnect, block)"
            )),
        }
    }
}

/// Encoded topic messages up to this many bytes are copied into each link's queue rather than shared: a copy
/// of a few dozen bytes costs less than a reference count that the publisher and every link's writer, on
/// different cores, would take turns to change.
pub const INLINE_PUBLISH: usize = 118;

/// A `Publish` frame encoded once by its publisher, for every link it is queued on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedPublish {
    bytes: PublishBytes,
}

/// The whole frame as it goes on the wire: length prefix, version byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublishBytes {
    /// Up to [`INLINE_PUBLISH`] bytes, copied with each clone.
    Inline {
        len: u8,
        bytes: [u8; INLINE_PUBLISH],
    },
    /// Larger: shared.
    Shared(Bytes),
}

impl Default for PublishBytes {
    fn default() -> Self {
        PublishBytes::Inline {
            len: 0,
            bytes: [0; INLINE_PUBLISH],
        }
    }
}

impl EncodedPublish {
    /// Encodes a topic message (with `scratch` as the work buffer), refusing a frame over `max` bytes.
    pub fn encode(
        topic: &str,
        seq: u64,
        payload: &[u8],
        max: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<Self, EncodeError> {
        let mut publish = EncodedPublish::default();
        publish.encode_in_place(topic, seq, payload, max, scratch)?;
        Ok(publish)
    }

    /// Like [`EncodedPublish::encode`], into this value (a publisher keeps one and encodes each message in it,
    /// so a small message is written once, in place).
    pub fn encode_in_place(
        &mut self,
        topic: &str,
        seq: u64,
        payload: &[u8],
        max: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.encode_as_in_place(None, topic, seq, payload, max, scratch)
    }

    /// Like [`EncodedPublish::encode_in_place`], and with `from` a topic message relayed in that peer's name
    /// (a `Relay` frame: a gateway's message from another site), queued and dropped like any other.
    pub fn encode_as_in_place(
        &mut self,
        from: Option<RelayedFrom<'_>>,
        topic: &str,
        seq: u64,
        payload: &[u8],
        max: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if let PublishBytes::Shared(_) = self.bytes {
            self.bytes = PublishBytes::default();
        }
        if let PublishBytes::Inline { len, bytes } = &mut self.bytes {
            if let Some(written) =
                frame::encode_publish_into(from, topic, seq, payload, bytes, max)?
            {
                *len = written as u8;
                return Ok(());
            }
        }
        scratch.clear();
        frame::encode_publish(from, topic, seq, payload, scratch, max)?;
        self.bytes = PublishBytes::Shared(Bytes::copy_from_slice(scratch));
        Ok(())
    }

    /// The frame as it goes on the wire.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            PublishBytes::Inline { len, bytes } => &bytes[..*len as usize],
            PublishBytes::Shared(bytes) => bytes,
        }
    }

    /// The topic, read back from the frame (needed only when a full queue drops it).
    pub fn topic(&self) -> &str {
        topic_of(self.bytes())
    }
}

/// The topic of an encoded topic message (relayed or not).
fn topic_of(bytes: &[u8]) -> &str {
    match frame::decode_view(bytes, usize::MAX) {
        Ok(Some((FrameView::Publish(publish), _)))
        | Ok(Some((FrameView::RelayedPublish { publish, .. }, _))) => publish.topic,
        other => unreachable!("an encoded topic message decodes as one, not {other:?}"),
    }
}

/// One entry of an outbound queue: a frame still to encode, or a topic message encoded by its publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A frame, encoded by the link's writer.
    Frame(Frame),
    /// A topic message, already encoded.
    Publish(EncodedPublish),
}

impl Outbound {
    /// The topic when this is a topic message (the only kind a full queue may drop).
    pub fn topic(&self) -> Option<&str> {
        match self {
            Outbound::Frame(Frame::Publish(publish)) => Some(&publish.topic),
            Outbound::Frame(_) => None,
            Outbound::Publish(publish) => Some(publish.topic()),
        }
    }
}

impl From<Frame> for Outbound {
    fn from(frame: Frame) -> Self {
        Outbound::Frame(frame)
    }
}

impl From<EncodedPublish> for Outbound {
    fn from(publish: EncodedPublish) -> Self {
        Outbound::Publish(publish)
    }
}

/// What [`OutboundQueue::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Queued after dropping the oldest topic message (on this topic).
    DroppedOldest {
        /// Topic of the dropped message.
        topic: String,
    },
    /// Not queued: the queue is full and the policy says close the link (`Disconnect`, or no topic message
    /// left to drop).
    MustDisconnect,
    /// Not queued: the queue is full and the policy says wait (`Block`); retry when there is room.
    MustWait(Outbound),
}

/// A link's bounded outbound queue.
///
/// Small encoded topic messages are kept back to back in one byte buffer (their entries hold only their
/// length), so queueing one is a copy of its few dozen bytes and the writer takes a run of them as one block.
#[derive(Debug)]
pub struct OutboundQueue {
    entries: VecDeque<Entry>,
    /// The bytes of the [`Entry::Inline`] messages, oldest first, from `inline_front` on.
    inline: Vec<u8>,
    inline_front: usize,
    capacity: usize,
    policy: OverflowPolicy,
    /// Topic messages dropped and not yet reported, per topic.
    missed: BTreeMap<String, u64>,
    dropped_total: u64,
}

/// One queued frame.
#[derive(Debug)]
enum Entry {
    /// A frame the writer encodes (boxed: control frames are rare, and the queue's entries stay small).
    Frame(Box<Frame>),
    /// An encoded topic message of this many bytes, in the queue's byte buffer.
    Inline(u32),
    /// A larger encoded topic message, shared with the other links it is queued on.
    Shared(Bytes),
}

impl OutboundQueue {
    /// An empty queue of `capacity` frames (at least 1) with `policy`.
    pub fn new(capacity: usize, policy: OverflowPolicy) -> Self {
        OutboundQueue {
            entries: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            inline: Vec::new(),
            inline_front: 0,
            capacity: capacity.max(1),
            policy,
            missed: BTreeMap::new(),
            dropped_total: 0,
        }
    }

    /// Queues a frame, applying the policy when full.
    pub fn push(&mut self, item: impl Into<Outbound>) -> Pushed {
        match item.into() {
            Outbound::Publish(publish) => self.push_publish(&publish),
            Outbound::Frame(frame) => {
                let is_publish = matches!(frame, Frame::Publish(_));
                match self.make_room(is_publish) {
                    Room::Made(dropped) => {
                        self.entries.push_back(Entry::Frame(Box::new(frame)));
                        dropped.map_or(Pushed::Queued, |topic| Pushed::DroppedOldest { topic })
                    }
                    Room::Wait => Pushed::MustWait(Outbound::Frame(frame)),
                    Room::Disconnect => Pushed::MustDisconnect,
                }
            }
        }
    }

    /// Queues an encoded topic message (a copy of it, or a share when large), applying the policy when full.
    pub fn push_publish(&mut self, publish: &EncodedPublish) -> Pushed {
        let dropped = match self.make_room(true) {
            Room::Made(dropped) => dropped,
            Room::Wait => return Pushed::MustWait(Outbound::Publish(publish.clone())),
            Room::Disconnect => return Pushed::MustDisconnect,
        };
        let entry = match &publish.bytes {
            PublishBytes::Inline { .. } => {
                let bytes = publish.bytes();
                self.inline.extend_from_slice(bytes);
                Entry::Inline(bytes.len() as u32)
            }
            PublishBytes::Shared(bytes) => Entry::Shared(bytes.clone()),
        };
        self.entries.push_back(entry);
        dropped.map_or(Pushed::Queued, |topic| Pushed::DroppedOldest { topic })
    }

    /// Makes room for one more frame under the policy (`is_publish`: the frame is a topic message).
    fn make_room(&mut self, is_publish: bool) -> Room {
        if self.entries.len() < self.capacity {
            return Room::Made(None);
        }
        match self.policy {
            OverflowPolicy::Block if is_publish => Room::Wait,
            OverflowPolicy::Disconnect => Room::Disconnect,
            OverflowPolicy::DropOldest | OverflowPolicy::Block => {
                match self.drop_oldest_publish() {
                    Some(topic) => Room::Made(Some(topic)),
                    None => Room::Disconnect,
                }
            }
        }
    }

    /// Drops the oldest queued topic message and counts it; its topic, or `None` when there is none.
    fn drop_oldest_publish(&mut self) -> Option<String> {
        let at = self.entries.iter().position(Entry::is_publish)?;
        // The oldest topic message is also the oldest inline one, if inline: its bytes come first.
        let topic = self
            .topic_at(&self.entries[at], self.inline_front)
            .to_owned();
        if let Some(Entry::Inline(len)) = self.entries.remove(at) {
            self.inline_front += len as usize;
        }
        *self.missed.entry(topic.clone()).or_default() += 1;
        self.dropped_total += 1;
        Some(topic)
    }

    /// The topic of a topic message entry (`""` for any other), its inline bytes starting at `offset`.
    fn topic_at<'a>(&'a self, entry: &'a Entry, offset: usize) -> &'a str {
        let bytes = match entry {
            Entry::Frame(frame) => match &**frame {
                Frame::Publish(publish) => return &publish.topic,
                _ => return "",
            },
            Entry::Inline(len) => &self.inline[offset..offset + *len as usize],
            Entry::Shared(bytes) => bytes,
        };
        topic_of(bytes)
    }

    /// Takes frames to write, oldest first, at most `max_frames`, appending their bytes to `out` (`encode`
    /// appends a frame that is not encoded yet); returns how many were taken. A `Missed` notice is put before
    /// the first message of each topic that had drops (and any left-over notices at the end), so the
    /// subscriber sees its gap exactly where it is.
    pub fn drain(
        &mut self,
        max_frames: usize,
        out: &mut Vec<u8>,
        mut encode: impl FnMut(&Frame, &mut Vec<u8>),
    ) -> usize {
        let take = self.entries.len().min(max_frames);
        for _ in 0..take {
            let entry = self.entries.pop_front().expect("counted above");
            if !self.missed.is_empty() && entry.is_publish() {
                let topic = self.topic_at(&entry, self.inline_front);
                if self.missed.contains_key(topic) {
                    let topic = topic.to_owned();
                    let count = self.missed.remove(&topic).expect("just found");
                    encode(&Frame::Missed { topic, count }, out);
                }
            }
            match entry {
                Entry::Frame(frame) => encode(&frame, out),
                Entry::Inline(len) => {
                    let end = self.inline_front + len as usize;
                    out.extend_from_slice(&self.inline[self.inline_front..end]);
                    self.inline_front = end;
                }
                Entry::Shared(bytes) => out.extend_from_slice(&bytes),
            }
        }
        if self.entries.is_empty() {
            for (topic, count) in std::mem::take(&mut self.missed) {
                encode(&Frame::Missed { topic, count }, out);
            }
        }
        self.reclaim();
        take
    }

    /// Forgets inline bytes already taken or dropped: all of them once none is queued, else once they are
    /// most of the buffer (so a queue that never empties does not grow without bound).
    fn reclaim(&mut self) {
        if self.inline_front == self.inline.len() {
            self.inline.clear();
            self.inline_front = 0;
        } else if self.inline_front > 64 * 1024 && self.inline_front > self.inline.len() / 2 {
            self.inline.drain(..self.inline_front);
            self.inline_front = 0;
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.missed.is_empty()
    }

    /// True when a push would meet the policy.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    /// Topic messages dropped since the queue was made.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}

/// What making room for one more frame came to.
enum Room {
    /// There is room (after dropping the oldest topic message on this topic, if named).
    Made(Option<String>),
    /// The publisher must wait (`Block`).
    Wait,
    /// The link must close.
    Disconnect,
}

impl Entry {
    fn is_publish(&self) -> bool {
        match self {
            Entry::Frame(frame) => matches!(**frame, Frame::Publish(_)),
            Entry::Inline(_) | Entry::Shared(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::frame::Publish;

    fn publish(topic: &str, seq: u64) -> Frame {
        Frame::Publish(Publish {
            topic: topic.into(),
            seq,
            payload: "x".into(),
        })
    }

    fn encoded(topic: &str, seq: u64) -> EncodedPublish {
        EncodedPublish::encode(topic, seq, b"x", usize::MAX, &mut Vec::new()).unwrap()
    }

    #[test]
    fn small_messages_are_copied_and_large_ones_shared_with_the_same_bytes() {
        for size in [0, 64, INLINE_PUBLISH, 1024, 100_000] {
            let payload = vec![7; size];
            let mut scratch = Vec::new();
            let publish =
                EncodedPublish::encode("t.x", 9, &payload, usize::MAX, &mut scratch).unwrap();
            let frame = Frame::Publish(Publish {
                topic: "t.x".into(),
                seq: 9,
                payload: payload.into(),
            });
            assert_eq!(publish.bytes(), frame::encode_to_vec(&frame).unwrap());
            assert_eq!(publish.topic(), "t.x");
            let inline = matches!(publish.bytes, PublishBytes::Inline { .. });
            assert_eq!(
                inline,
                publish.bytes().len() <= INLINE_PUBLISH,
                "{size} bytes"
            );
        }
        let too_big = EncodedPublish::encode("t", 1, &[0; 100], 50, &mut Vec::new());
        assert!(too_big.is_err());
        // One value reused for messages of any size, as a publisher does.
        let mut reused = EncodedPublish::default();
        for size in [10, 1000, 10, 2000] {
            let payload = vec![3; size];
            reused
                .encode_in_place("t", 1, &payload, usize::MAX, &mut Vec::new())
                .unwrap();
            let fresh =
                EncodedPublish::encode("t", 1, &payload, usize::MAX, &mut Vec::new()).unwrap();
            assert_eq!(reused.bytes(), fresh.bytes());
        }
    }

    #[test]
    fn a_relayed_message_is_encoded_once_as_its_relay_frame_and_dropped_by_its_topic() {
        use herald_core::frame::Relayed;
        let peer = herald_core::NodeId([4; 16]);
        let from = RelayedFrom {
            peer,
            from_name: "a1@a",
        };
        for size in [64, 1024] {
            let mut publish = EncodedPublish::default();
            let payload = vec![5; size];
            publish
                .encode_as_in_place(Some(from), "t.r", 3, &payload, usize::MAX, &mut Vec::new())
                .unwrap();
            let frame = Frame::Relay {
                peer,
                frame: Relayed::Publish {
                    from_name: "a1@a".into(),
                    publish: Publish {
                        topic: "t.r".into(),
                        seq: 3,
                        payload: payload.into(),
                    },
                },
            };
            assert_eq!(publish.bytes(), frame::encode_to_vec(&frame).unwrap());
            assert_eq!(publish.topic(), "t.r");
        }
        let mut q = OutboundQueue::new(1, OverflowPolicy::DropOldest);
        let mut relayed = EncodedPublish::default();
        relayed
            .encode_as_in_place(Some(from), "t.r", 1, b"x", usize::MAX, &mut Vec::new())
            .unwrap();
        assert_eq!(q.push(relayed), Pushed::Queued);
        assert_eq!(
            q.push(encoded("t.s", 2)),
            Pushed::DroppedOldest {
                topic: "t.r".into()
            }
        );
    }

    /// Drains at most `max` frames and names each frame written, in order.
    fn drained(q: &mut OutboundQueue, max: usize) -> Vec<String> {
        let mut bytes = Vec::new();
        q.drain(max, &mut bytes, |frame, out| {
            frame::encode(frame, out, usize::MAX).unwrap()
        });
        let mut at = 0;
        let mut names = Vec::new();
        while let Some((frame, used)) = frame::decode(&bytes[at..], usize::MAX).unwrap() {
            at += used;
            names.push(match frame {
                Frame::Publish(p) => format!("{}{}", p.topic, p.seq),
                Frame::Missed { topic, count } => format!("missed {topic} {count}"),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(at, bytes.len());
        names
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_reports_the_gap_in_place() {
        let mut q = OutboundQueue::new(3, OverflowPolicy::DropOldest);
        for seq in 1..=5 {
            q.push(publish("a", seq));
        }
        assert_eq!(q.dropped_total(), 2);
        assert_eq!(drained(&mut q, 10), ["missed a 2", "a3", "a4", "a5"]);
        assert!(q.is_empty());
    }

    #[test]
    fn control_frames_are_never_dropped_and_a_queue_full_of_them_disconnects() {
        let mut q = OutboundQueue::new(2, OverflowPolicy::DropOldest);
        q.push(Frame::Direct {
            payload: "d".into(),
        });
        q.push(publish("a", 1));
        assert_eq!(
            q.push(Frame::Ping { nonce: 1 }),
            Pushed::DroppedOldest { topic: "a".into() }
        );
        assert_eq!(q.push(Frame::Ping { nonce: 2 }), Pushed::MustDisconnect);
        assert_eq!(
            drained(&mut q, 10),
            [
                "Direct { payload: Payload(\"d\") }",
                "Ping { nonce: 1 }",
                "missed a 1"
            ]
        );
    }

    #[test]
    fn block_asks_the_publisher_to_wait_and_disconnect_asks_to_close() {
        let mut q = OutboundQueue::new(1, OverflowPolicy::Block);
        q.push(publish("a", 1));
        assert_eq!(
            q.push(publish("a", 2)),
            Pushed::MustWait(publish("a", 2).into())
        );
        let mut d = OutboundQueue::new(1, OverflowPolicy::Disconnect);
        d.push(publish("a", 1));
        assert_eq!(d.push(publish("a", 2)), Pushed::MustDisconnect);
    }

    #[test]
    fn drains_in_batches_in_order_with_notices_per_topic() {
        let mut q = OutboundQueue::new(4, OverflowPolicy::DropOldest);
        for (topic, seq) in [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)] {
            q.push(publish(topic, seq));
        }
        assert_eq!(drained(&mut q, 2), ["missed a 1", "a2", "missed b 1", "b2"]);
        assert_eq!(drained(&mut q, 2), ["a3", "b3"]);
        assert!(q.is_empty());
    }

    #[test]
    fn encoded_messages_are_dropped_and_reported_like_frames() {
        let mut q = OutboundQueue::new(2, OverflowPolicy::DropOldest);
        q.push(encoded("a", 1));
        q.push(Frame::Ping { nonce: 1 });
        q.push(encoded("a", 2));
        q.push(encoded("a", 3));
        assert_eq!(q.dropped_total(), 2);
        assert_eq!(
            drained(&mut q, 10),
            ["Ping { nonce: 1 }", "missed a 2", "a3"]
        );
        let mut b = OutboundQueue::new(1, OverflowPolicy::Block);
        b.push(encoded("b", 1));
        assert_eq!(
            b.push(encoded("b", 2)),
            Pushed::MustWait(encoded("b", 2).into())
        );
    }

    #[test]
    fn small_large_and_control_frames_keep_their_order_and_drops_their_bytes() {
        let large = |seq| {
            EncodedPublish::encode("big", seq, &[1; 500], usize::MAX, &mut Vec::new()).unwrap()
        };
        let mut q = OutboundQueue::new(5, OverflowPolicy::DropOldest);
        q.push(Frame::Ping { nonce: 1 });
        q.push_publish(&encoded("a", 1));
        q.push_publish(&large(1));
        q.push_publish(&encoded("a", 2));
        q.push(Frame::Ping { nonce: 2 });
        // Full: the oldest topic message (small, behind a control frame) goes, with its bytes.
        assert_eq!(
            q.push_publish(&encoded("a", 3)),
            Pushed::DroppedOldest { topic: "a".into() }
        );
        assert_eq!(
            q.push_publish(&large(2)),
            Pushed::DroppedOldest {
                topic: "big".into()
            }
        );
        assert_eq!(
            drained(&mut q, 3),
            ["Ping { nonce: 1 }", "missed a 1", "a2", "Ping { nonce: 2 }"]
        );
        assert_eq!(drained(&mut q, 10), ["a3", "missed big 1", "big2"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_queue_that_never_empties_keeps_its_byte_buffer_bounded() {
        let mut q = OutboundQueue::new(64, OverflowPolicy::Block);
        let mut most = 0;
        for seq in 0..200_000 {
            assert_eq!(q.push_publish(&encoded("t", seq)), Pushed::Queued);
            if q.len() == 32 {
                // Take half, so 16 or more stay queued throughout.
                let mut bytes = Vec::new();
                q.drain(16, &mut bytes, |_, _| unreachable!("only topic messages"));
            }
            most = most.max(q.inline.capacity());
        }
        assert!(most < 512 * 1024, "the buffer grew to {most} bytes");
    }

    #[test]
    fn policies_parse_from_their_names() {
        assert_eq!("block".parse(), Ok(OverflowPolicy::Block));
        assert!("lossy".parse::<OverflowPolicy>().is_err());
    }
}
