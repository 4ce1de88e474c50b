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
use herald_core::frame::{self, Frame, FrameView};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl EncodedPublish {
    /// Encodes a topic message (with `scratch` as the work buffer), refusing a frame over `max` bytes.
    pub fn encode(
        topic: &str,
        seq: u64,
        payload: &[u8],
        max: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<Self, EncodeError> {
        let mut inline = [0; INLINE_PUBLISH];
        if let Some(len) = frame::encode_publish_into(topic, seq, payload, &mut inline, max)? {
            let bytes = PublishBytes::Inline {
                len: len as u8,
                bytes: inline,
            };
            return Ok(EncodedPublish { bytes });
        }
        scratch.clear();
        frame::encode_publish(topic, seq, payload, scratch, max)?;
        let bytes = PublishBytes::Shared(Bytes::copy_from_slice(scratch));
        Ok(EncodedPublish { bytes })
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
        match frame::decode_view(self.bytes(), usize::MAX) {
            Ok(Some((FrameView::Publish(publish), _))) => publish.topic,
            other => unreachable!("an encoded publish decodes as one, not {other:?}"),
        }
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
#[derive(Debug)]
pub struct OutboundQueue {
    frames: VecDeque<Outbound>,
    capacity: usize,
    policy: OverflowPolicy,
    /// Topic messages dropped and not yet reported, per topic.
    missed: BTreeMap<String, u64>,
    dropped_total: u64,
}

impl OutboundQueue {
    /// An empty queue of `capacity` frames (at least 1) with `policy`.
    pub fn new(capacity: usize, policy: OverflowPolicy) -> Self {
        OutboundQueue {
            frames: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            capacity: capacity.max(1),
            policy,
            missed: BTreeMap::new(),
            dropped_total: 0,
        }
    }

    /// Queues a frame, applying the policy when full.
    pub fn push(&mut self, item: impl Into<Outbound>) -> Pushed {
        let item = item.into();
        if self.frames.len() < self.capacity {
            self.frames.push_back(item);
            return Pushed::Queued;
        }
        let is_publish = item.topic().is_some();
        match self.policy {
            OverflowPolicy::Block if is_publish => Pushed::MustWait(item),
            OverflowPolicy::Disconnect => Pushed::MustDisconnect,
            OverflowPolicy::DropOldest | OverflowPolicy::Block => {
                let Some(at) = self.frames.iter().position(|f| f.topic().is_some()) else {
                    return Pushed::MustDisconnect;
                };
                let dropped = self.frames.remove(at).expect("position found a publish");
                let topic = dropped.topic().expect("a publish has a topic").to_owned();
                *self.missed.entry(topic.clone()).or_default() += 1;
                self.dropped_total += 1;
                self.frames.push_back(item);
                Pushed::DroppedOldest { topic }
            }
        }
    }

    /// Takes frames to write, oldest first, at most `max_frames`. A `Missed` notice is put before the first
    /// message of each topic that had drops (and any left-over notices at the end), so the subscriber sees its
    /// gap exactly where it is.
    pub fn drain(&mut self, max_frames: usize, out: &mut Vec<Outbound>) {
        let take = self.frames.len().min(max_frames);
        if self.missed.is_empty() {
            out.extend(self.frames.drain(..take));
            return;
        }
        for item in self.frames.drain(..take) {
            if let Some(topic) = item.topic() {
                if let Some(count) = self.missed.remove(topic) {
                    out.push(Outbound::Frame(Frame::Missed {
                        topic: topic.to_owned(),
                        count,
                    }));
                }
            }
            out.push(item);
        }
        if self.frames.is_empty() {
            out.extend(
                std::mem::take(&mut self.missed)
                    .into_iter()
                    .map(|(topic, count)| Outbound::Frame(Frame::Missed { topic, count })),
            );
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.missed.is_empty()
    }

    /// True when a push would meet the policy.
    pub fn is_full(&self) -> bool {
        self.frames.len() >= self.capacity
    }

    /// Topic messages dropped since the queue was made.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
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
    }

    fn seqs(frames: &[Outbound]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                Outbound::Frame(Frame::Publish(p)) => format!("{}{}", p.topic, p.seq),
                Outbound::Frame(Frame::Missed { topic, count }) => {
                    format!("missed {topic} {count}")
                }
                Outbound::Frame(other) => format!("{other:?}"),
                Outbound::Publish(p) => match frame::decode(p.bytes(), usize::MAX) {
                    Ok(Some((Frame::Publish(p), _))) => format!("{}{}", p.topic, p.seq),
                    other => panic!("{other:?}"),
                },
            })
            .collect()
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_reports_the_gap_in_place() {
        let mut q = OutboundQueue::new(3, OverflowPolicy::DropOldest);
        for seq in 1..=5 {
            q.push(publish("a", seq));
        }
        assert_eq!(q.dropped_total(), 2);
        let mut out = Vec::new();
        q.drain(10, &mut out);
        assert_eq!(seqs(&out), ["missed a 2", "a3", "a4", "a5"]);
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
        let mut out = Vec::new();
        q.drain(10, &mut out);
        assert_eq!(
            seqs(&out),
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
        let mut out = Vec::new();
        q.drain(2, &mut out);
        assert_eq!(seqs(&out), ["missed a 1", "a2", "missed b 1", "b2"]);
        out.clear();
        q.drain(2, &mut out);
        assert_eq!(seqs(&out), ["a3", "b3"]);
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
        let mut out = Vec::new();
        q.drain(10, &mut out);
        assert_eq!(seqs(&out), ["Ping { nonce: 1 }", "missed a 2", "a3"]);
        let mut b = OutboundQueue::new(1, OverflowPolicy::Block);
        b.push(encoded("b", 1));
        assert_eq!(
            b.push(encoded("b", 2)),
            Pushed::MustWait(encoded("b", 2).into())
        );
    }

    #[test]
    fn policies_parse_from_their_names() {
        assert_eq!("block".parse(), Ok(OverflowPolicy::Block));
        assert!("lossy".parse::<OverflowPolicy>().is_err());
    }
}
