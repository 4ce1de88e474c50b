//! The frames between nodes on a TCP link, and their length-prefixed binary codec.
//!
//! ```text
//! length u32 BE (of what follows) | version (1) | postcard body
//! ```
//! Decoding is two-phase like mini-redis's: [`decode`] first reads the 5-byte header and checks the declared
//! length against the limit *before* anything is buffered; "not enough bytes yet" is `Ok(None)`, never an error.
//! The node wraps these functions in a tokio-util codec; `core` does no I/O.

use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, EncodeError};
use crate::ids::{NodeId, PeerKind};
use crate::payload::Payload;
use crate::PROTOCOL_VERSION;

/// Largest frame (version byte and body) a node sends or accepts by default: 1 MiB. A config key may lower it.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// Bytes before the body: the length prefix and the version byte.
pub const FRAME_HEADER_LEN: usize = 5;

/// Every frame on a node-to-node link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum Frame {
    /// First frame from each side once the link is set up (see [`crate::handshake`]): who I am. On a keyed link
    /// it is the first frame inside the encrypted channel.
    Hello(Hello),
    /// Start receiving these topics (exact names or trailing wildcards).
    Subscribe {
        /// Topic patterns.
        topics: Vec<String>,
    },
    /// Stop receiving these topics.
    Unsubscribe {
        /// Topic patterns, as subscribed.
        topics: Vec<String>,
    },
    /// A message on a topic.
    Publish(Publish),
    /// The sender dropped `count` messages on `topic` for this receiver (its queue was full).
    Missed {
        /// The topic the dropped messages were on.
        topic: String,
        /// How many were dropped since the last notice.
        count: u64,
    },
    /// A direct message to the receiving node.
    Direct {
        /// The bytes.
        payload: Payload,
    },
    /// A question the receiver should answer within `timeout_ms`.
    Question(Question),
    /// The answer to a [`Frame::Question`].
    Answer(Answer),
    /// Liveness probe; answered by [`Frame::Pong`] with the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// Reply to [`Frame::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// The sender refuses the link or a request; for the link, it closes right after.
    Refused {
        /// Why.
        reason: RefuseReason,
    },
    /// The sender could not process a frame.
    Error {
        /// What went wrong.
        code: ErrorCode,
    },
    /// Graceful close: the sender is leaving.
    Bye,
    /// A frame to or from a legacy peer the receiving (or sending) node is the gateway of: towards the gateway,
    /// `peer` is the proxied peer it is for; from the gateway, the proxied peer it comes from.
    Relay {
        /// The proxied peer's node id (as in its beacon).
        peer: NodeId,
        /// What is relayed.
        frame: Relayed,
    },
}

impl From<Relayed> for Frame {
    /// The frame as it goes to a peer that is not proxied.
    fn from(relayed: Relayed) -> Frame {
        match relayed {
            Relayed::Direct { payload } => Frame::Direct { payload },
            Relayed::Question(question) => Frame::Question(question),
            Relayed::Answer(answer) => Frame::Answer(answer),
            Relayed::Publish { publish, .. } => Frame::Publish(publish),
        }
    }
}

/// What a [`Frame::Relay`] carries: the frames a legacy peer can take or give through its gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum Relayed {
    /// A direct message for the proxied peer.
    Direct {
        /// The bytes.
        payload: Payload,
    },
    /// A question for the proxied peer.
    Question(Question),
    /// The proxied peer's answer.
    Answer(Answer),
    /// A topic message from the proxied peer (a peer at another site, from its site's NATS gateway), to be
    /// delivered in its name.
    Publish {
        /// The sender's name as the receiver should show it (`name@site`).
        from_name: String,
        /// The message.
        publish: Publish,
    },
}

/// The first frame each side sends after the handshake messages of [`crate::handshake`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Hello {
    /// The sender's node id.
    pub node_id: NodeId,
    /// The sender's name.
    pub name: String,
    /// The sender's kind.
    pub kind: PeerKind,
    /// The sender's software version (`herald 0.1.0`), for logs.
    pub software: String,
}

/// A message on a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Publish {
    /// The topic (an exact name, never a wildcard).
    pub topic: String,
    /// Per publisher, increasing: lets a subscriber see order and gaps.
    pub seq: u64,
    /// The bytes.
    pub payload: Payload,
}

/// A question to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Question {
    /// Chosen by the asker; echoed in the [`Answer`].
    pub id: u64,
    /// How long the asker waits; an answerer may give up after it.
    pub timeout_ms: u32,
    /// The question.
    pub payload: Payload,
}

/// The answer to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Answer {
    /// The question's id.
    pub id: u64,
    /// The answer, or why the answerer failed.
    pub body: AnswerBody,
}

/// What an answerer sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum AnswerBody {
    /// The handler's answer.
    Answered(Payload),
    /// The handler returned an error or panicked; the text says what happened.
    Failed(String),
    /// No answer, for a reason a gateway learned further on (a peer at another site that is unknown there,
    /// left, or timed out): the asker's outcome is this, as if it had asked on that peer's own LAN.
    NoAnswer(crate::question::NoAnswer),
}

/// Why a node refuses a link or a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum RefuseReason {
    /// The peer speaks a protocol version this node does not; `supported` is this node's.
    Version {
        /// The refusing node's protocol version.
        supported: u8,
    },
    /// Only one side has a key, or the keys differ (the Noise handshake failed).
    Auth,
    /// The topic already has its maximum number of subscribers.
    SubscriberLimit {
        /// The topic pattern refused.
        topic: String,
        /// The configured bound.
        limit: u32,
    },
    /// Another live node already uses this name.
    NameTaken,
    /// The node has its maximum number of links.
    TooManyLinks,
    /// The node is shutting down.
    ShuttingDown,
}

/// Why a node could not process a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum ErrorCode {
    /// The frame did not decode.
    Malformed,
    /// The frame exceeded the receiver's limit.
    TooLarge,
    /// The frame is valid but not expected now (e.g. `Publish` before `Hello`).
    Unexpected,
    /// The receiver failed internally.
    Internal,
}

/// Appends one encoded frame to `out` (so that several frames can be batched into one write).
///
/// Fails with [`EncodeError::TooLarge`] when the frame would exceed `max` (usually [`MAX_FRAME_LEN`]); `out`
/// is then left as it was.
pub fn encode(frame: &Frame, out: &mut Vec<u8>, max: usize) -> Result<(), EncodeError> {
    append(frame, out, max)
}

/// Appends the header and the postcard body of `frame` (a [`Frame`], a borrowed mirror of one, or a
/// [`crate::handshake::HandshakeMessage`]).
pub(crate) fn append<F: Serialize>(
    frame: &F,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    if let Err(err) = postcard::to_extend(frame, AppendTo(out)) {
        out.truncate(start);
        return Err(err.into());
    }
    let len = out.len() - start - 4;
    if len > max {
        out.truncate(start);
        return Err(EncodeError::TooLarge { len, max });
    }
    out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Appends one encoded [`Frame::Publish`] to `out`, from borrowed parts: the same bytes as [`encode`] of the
/// frame, without building it (a publisher encodes each message once, straight from the caller's data). With
/// `from`, the [`Frame::Relay`] of a [`Relayed::Publish`] in that peer's name: a gateway encodes a message
/// from another site once.
pub fn encode_publish(
    from: Option<RelayedFrom<'_>>,
    topic: &str,
    seq: u64,
    payload: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), EncodeError> {
    append(&FrameRef::publish(from, topic, seq, payload), out, max)
}

/// Writes one encoded topic message at the start of `out`, from borrowed parts (the same bytes as
/// [`encode_publish`]): `Ok(Some(len))` with the bytes written, `Ok(None)` when it does not fit in `out`.
pub fn encode_publish_into(
    from: Option<RelayedFrom<'_>>,
    topic: &str,
    seq: u64,
    payload: &[u8],
    out: &mut [u8],
    max: usize,
) -> Result<Option<usize>, EncodeError> {
    if out.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let frame = FrameRef::publish(from, topic, seq, payload);
    let (header, body) = out.split_at_mut(FRAME_HEADER_LEN);
    let len = match postcard::to_slice(&frame, body) {
        Ok(written) => written.len() + 1,
        Err(postcard::Error::SerializeBufferFull) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    if len > max {
        return Err(EncodeError::TooLarge { len, max });
    }
    header[..4].copy_from_slice(&(len as u32).to_be_bytes());
    header[4] = PROTOCOL_VERSION;
    Ok(Some(4 + len))
}

/// The peer a relayed topic message ([`Relayed::Publish`] in a [`Frame::Relay`]) is from, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayedFrom<'a> {
    /// The proxied peer's node id.
    pub peer: NodeId,
    /// Its name as the receiver should show it (`name@site`).
    pub from_name: &'a str,
}

/// A [`Frame::Publish`] read in place: its topic and payload borrow the buffer it was decoded from, so a
/// receiver can share them (reference-counted slices of its read buffer) instead of copying each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishView<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The publisher's sequence number.
    pub seq: u64,
    /// The bytes, inside the decoded buffer.
    #[serde(borrow)]
    pub payload: BytesRef<'a>,
}

/// Borrowed bytes with [`Payload`]'s binary form: a length-prefixed byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BytesRef<'a>(pub &'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BytesRef<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(deserializer).map(BytesRef)
    }
}

/// [`Frame`]'s variants up to `Relay`, so serde gives `Publish` and `Relay` the same variant indexes (checked by
/// tests); only those two are ever written or read through it.
#[derive(Serialize, Deserialize)]
#[allow(dead_code)]
enum FrameRef<'a> {
    Hello,
    Subscribe,
    Unsubscribe,
    #[serde(borrow)]
    Publish(PublishView<'a>),
    Missed,
    Direct,
    Question,
    Answer,
    Ping,
    Pong,
    Refused,
    Error,
    Bye,
    Relay {
        peer: NodeId,
        #[serde(borrow)]
        frame: RelayedRef<'a>,
    },
}

/// [`Relayed`]'s variants up to `Publish` (see [`FrameRef`]).
#[derive(Serialize, Deserialize)]
#[allow(dead_code)]
enum RelayedRef<'a> {
    Direct,
    Question,
    Answer,
    Publish {
        from_name: &'a str,
        #[serde(borrow)]
        publish: PublishView<'a>,
    },
}

impl<'a> FrameRef<'a> {
    fn publish(from: Option<RelayedFrom<'a>>, topic: &'a str, seq: u64, payload: &'a [u8]) -> Self {
        let publish = PublishView {
            topic,
            seq,
            payload: BytesRef(payload),
        };
        match from {
            None => FrameRef::Publish(publish),
            Some(from) => FrameRef::Relay {
                peer: from.peer,
                frame: RelayedRef::Publish {
                    from_name: from.from_name,
                    publish,
                },
            },
        }
    }
}

/// The first body byte of a [`Frame::Publish`]: its variant index, as postcard writes it.
const PUBLISH_TAG: u8 = 3;

/// The first body byte of a [`Frame::Relay`].
const RELAY_TAG: u8 = 13;

/// Where a [`Frame::Relay`]'s [`Relayed`] variant index is in the body (after the tag and the node id), and
/// the index of [`Relayed::Publish`].
const RELAYED_AT: usize = 1 + NodeId::LEN;
const RELAYED_PUBLISH_TAG: u8 = 3;

/// A frame as [`decode_view`] reads it: topic messages (relayed ones too) in place, anything else decoded
/// whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameView<'a> {
    /// A topic message, borrowing the buffer.
    Publish(PublishView<'a>),
    /// A topic message relayed in a proxied peer's name ([`Frame::Relay`] of [`Relayed::Publish`]), borrowing
    /// the buffer.
    RelayedPublish {
        /// Who it is from.
        from: RelayedFrom<'a>,
        /// The message.
        publish: PublishView<'a>,
    },
    /// Any other frame.
    Other(Frame),
}

/// Decodes the first frame in `buf` as [`decode`] does (same errors, same `used`), but a topic message is read
/// in place: nothing of it is copied.
pub fn decode_view(buf: &[u8], max: usize) -> Result<Option<(FrameView<'_>, usize)>, DecodeError> {
    let Some(len) = check(buf, max)? else {
        return Ok(None);
    };
    let body = &buf[FRAME_HEADER_LEN..4 + len];
    let in_place = match body.first() {
        Some(&PUBLISH_TAG) => true,
        Some(&RELAY_TAG) => body.get(RELAYED_AT) == Some(&RELAYED_PUBLISH_TAG),
        _ => false,
    };
    if !in_place {
        return Ok(take::<Frame>(buf, max)?.map(|(frame, used)| (FrameView::Other(frame), used)));
    }
    let (frame, rest) = postcard::take_from_bytes::<FrameRef<'_>>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes in frame",
            rest.len()
        )));
    }
    let view = match frame {
        FrameRef::Publish(publish) => FrameView::Publish(publish),
        FrameRef::Relay {
            peer,
            frame: RelayedRef::Publish { from_name, publish },
        } => FrameView::RelayedPublish {
            from: RelayedFrom { peer, from_name },
            publish,
        },
        _ => unreachable!("the tags are Publish's or a relayed Publish's"),
    };
    Ok(Some((view, 4 + len)))
}

/// Lets postcard append to a borrowed buffer, so batching needs no intermediate allocation.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl Extend<u8> for AppendTo<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Encodes one frame into a fresh buffer, with the default limit [`MAX_FRAME_LEN`].
pub fn encode_to_vec(frame: &Frame) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(frame, &mut out, MAX_FRAME_LEN)?;
    Ok(out)
}

/// Decodes the first frame in `buf`, with `max` the largest accepted frame length (version and body).
///
/// - `Ok(Some((frame, used)))`: a frame, and how many bytes of `buf` it took.
/// - `Ok(None)`: incomplete; read more bytes and call again. Only the 5-byte header is needed to reject an
///   oversized frame, so a caller never buffers more than `max + 5` bytes.
/// - `Err(_)`: a protocol error; the link should be closed (after a [`Frame::Refused`] for a bad version).
pub fn decode(buf: &[u8], max: usize) -> Result<Option<(Frame, usize)>, DecodeError> {
    take(buf, max)
}

/// Decodes the first message of type `T` in the frame envelope (a [`Frame`], or a
/// [`crate::handshake::HandshakeMessage`]), as [`decode`] does.
pub(crate) fn take<T: serde::de::DeserializeOwned>(
    buf: &[u8],
    max: usize,
) -> Result<Option<(T, usize)>, DecodeError> {
    let Some(len) = check(buf, max)? else {
        return Ok(None);
    };
    let body = &buf[FRAME_HEADER_LEN..4 + len];
    let (message, rest) = postcard::take_from_bytes::<T>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes in frame",
            rest.len()
        )));
    }
    Ok(Some((message, 4 + len)))
}

/// Checks the header of the first frame in `buf` without decoding the body: `Ok(Some(len))` when the whole
/// frame (`4 + len` bytes) is present, `Ok(None)` when more bytes are needed.
pub fn check(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(DecodeError::TooLarge { len, max });
    }
    if len == 0 {
        return Err(DecodeError::Malformed("empty frame".into()));
    }
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[4] != PROTOCOL_VERSION {
        return Err(DecodeError::BadVersion(buf[4]));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some(len))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn publish(len: usize) -> Frame {
        Frame::Publish(Publish {
            topic: "t".into(),
            seq: 1,
            payload: Payload(vec![0xaa; len]),
        })
    }

    proptest! {
        #[test]
        fn round_trips(frame: Frame) {
            let bytes = encode_to_vec(&frame).unwrap();
            prop_assert_eq!(decode(&bytes, MAX_FRAME_LEN).unwrap(), Some((frame, bytes.len())));
        }

        #[test]
        fn every_prefix_is_incomplete(frame: Frame) {
            let bytes = encode_to_vec(&frame).unwrap();
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..cut], MAX_FRAME_LEN).unwrap(), None);
            }
        }

        #[test]
        fn batched_frames_decode_in_order(frames in proptest::collection::vec(any::<Frame>(), 0..8)) {
            let mut buf = Vec::new();
            for frame in &frames {
                encode(frame, &mut buf, MAX_FRAME_LEN).unwrap();
            }
            let mut at = 0;
            let mut got = Vec::new();
            while let Some((frame, used)) = decode(&buf[at..], MAX_FRAME_LEN).unwrap() {
                got.push(frame);
                at += used;
            }
            prop_assert_eq!(at, buf.len());
            prop_assert_eq!(got, frames);
        }

        #[test]
        fn a_publish_encoded_from_its_parts_is_the_publish_frame(publish: Publish) {
            let mut parts = vec![9];
            encode_publish(None, &publish.topic, publish.seq, publish.payload.as_bytes(), &mut parts, MAX_FRAME_LEN).unwrap();
            let mut whole = vec![9];
            encode(&Frame::Publish(publish), &mut whole, MAX_FRAME_LEN).unwrap();
            prop_assert_eq!(parts, whole);
        }

        #[test]
        fn a_publish_written_in_place_is_the_publish_frame_or_does_not_fit(publish: Publish, room in 0usize..200) {
            let mut whole = Vec::new();
            encode(&Frame::Publish(publish.clone()), &mut whole, MAX_FRAME_LEN).unwrap();
            let mut out = vec![0; room];
            let written = encode_publish_into(None, &publish.topic, publish.seq, publish.payload.as_bytes(), &mut out, MAX_FRAME_LEN).unwrap();
            match written {
                Some(len) => prop_assert_eq!(&out[..len], &whole[..]),
                None => prop_assert!(whole.len() > room),
            }
        }

        #[test]
        fn a_relayed_publish_encoded_from_its_parts_is_the_relay_frame(peer: NodeId, from_name: String, publish: Publish, room in 0usize..200) {
            let from = RelayedFrom { peer, from_name: &from_name };
            let mut parts = vec![9];
            encode_publish(Some(from), &publish.topic, publish.seq, publish.payload.as_bytes(), &mut parts, MAX_FRAME_LEN).unwrap();
            let frame = Frame::Relay { peer, frame: Relayed::Publish { from_name: from_name.clone(), publish: publish.clone() } };
            let mut whole = vec![9];
            encode(&frame, &mut whole, MAX_FRAME_LEN).unwrap();
            prop_assert_eq!(&parts, &whole);
            let mut out = vec![0; room];
            match encode_publish_into(Some(from), &publish.topic, publish.seq, publish.payload.as_bytes(), &mut out, MAX_FRAME_LEN).unwrap() {
                Some(len) => prop_assert_eq!(&out[..len], &whole[1..]),
                None => prop_assert!(whole.len() - 1 > room),
            }
        }

        #[test]
        fn a_view_is_the_decoded_frame(frame: Frame) {
            let bytes = encode_to_vec(&frame).unwrap();
            let (view, used) = decode_view(&bytes, MAX_FRAME_LEN).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            match (view, frame) {
                (FrameView::Publish(view), Frame::Publish(publish)) => {
                    prop_assert_eq!(view.topic, publish.topic.as_str());
                    prop_assert_eq!(view.seq, publish.seq);
                    prop_assert_eq!(view.payload.0, publish.payload.as_bytes());
                }
                (FrameView::RelayedPublish { from, publish: view }, Frame::Relay { peer, frame: Relayed::Publish { from_name, publish } }) => {
                    prop_assert_eq!(from.peer, peer);
                    prop_assert_eq!(from.from_name, from_name.as_str());
                    prop_assert_eq!(view.topic, publish.topic.as_str());
                    prop_assert_eq!(view.seq, publish.seq);
                    prop_assert_eq!(view.payload.0, publish.payload.as_bytes());
                }
                (FrameView::Other(other), frame) => {
                    let in_place = matches!(frame, Frame::Publish(_) | Frame::Relay { frame: Relayed::Publish { .. }, .. });
                    prop_assert!(!in_place);
                    prop_assert_eq!(other, frame);
                }
                (view, frame) => prop_assert!(false, "{:?} read as {:?}", frame, view),
            }
        }

        #[test]
        fn arbitrary_bodies_read_in_place_fail_as_decode_does(body in proptest::collection::vec(any::<u8>(), 1..512)) {
            let mut bytes = ((body.len() + 1) as u32).to_be_bytes().to_vec();
            bytes.push(PROTOCOL_VERSION);
            bytes.extend_from_slice(&body);
            let view = decode_view(&bytes, MAX_FRAME_LEN).map(|v| v.map(|(_, used)| used));
            let whole = decode(&bytes, MAX_FRAME_LEN).map(|v| v.map(|(_, used)| used));
            prop_assert_eq!(view.is_ok(), whole.is_ok());
            if let (Ok(view), Ok(whole)) = (view, whole) {
                prop_assert_eq!(view, whole);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes, MAX_FRAME_LEN);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 1..512)) {
            let mut bytes = ((body.len() + 1) as u32).to_be_bytes().to_vec();
            bytes.push(PROTOCOL_VERSION);
            bytes.extend_from_slice(&body);
            match decode(&bytes, MAX_FRAME_LEN) {
                Ok(Some((_, used))) => prop_assert_eq!(used, bytes.len()),
                Ok(None) => prop_assert!(false, "a complete frame was reported incomplete"),
                Err(err) => prop_assert!(matches!(err, DecodeError::Malformed(_)), "{:?}", err),
            }
        }
    }

    #[test]
    fn oversized_is_rejected_from_the_header_alone() {
        let header = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        assert_eq!(
            decode(&header, MAX_FRAME_LEN),
            Err(DecodeError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            })
        );
        assert_eq!(
            decode(&u32::MAX.to_be_bytes(), 16),
            Err(DecodeError::TooLarge {
                len: u32::MAX as usize,
                max: 16
            })
        );
    }

    #[test]
    fn encoding_over_the_limit_fails_and_leaves_the_buffer_alone() {
        let mut buf = vec![1, 2, 3];
        let err = encode(&publish(100), &mut buf, 64).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge { max: 64, .. }));
        assert_eq!(buf, vec![1, 2, 3]);
        let err = encode_publish(None, "t", 1, &[0; 100], &mut buf, 64).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge { max: 64, .. }));
        assert_eq!(buf, vec![1, 2, 3]);
        assert!(encode(&publish(MAX_FRAME_LEN), &mut Vec::new(), MAX_FRAME_LEN).is_err());
        assert!(encode(&publish(MAX_FRAME_LEN - 64), &mut Vec::new(), MAX_FRAME_LEN).is_ok());
    }

    #[test]
    fn bad_version_and_empty_frames_are_named() {
        let mut bytes = encode_to_vec(&Frame::Bye).unwrap();
        bytes[4] = 1;
        assert_eq!(
            decode(&bytes, MAX_FRAME_LEN),
            Err(DecodeError::BadVersion(1))
        );
        assert!(matches!(
            decode(&[0, 0, 0, 0, PROTOCOL_VERSION], MAX_FRAME_LEN),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_variant_and_trailing_bytes_are_malformed() {
        // Variant index 200 does not exist.
        assert!(matches!(
            decode(&[0, 0, 0, 2, PROTOCOL_VERSION, 200], MAX_FRAME_LEN),
            Err(DecodeError::Malformed(_))
        ));
        let mut bytes = encode_to_vec(&Frame::Bye).unwrap();
        bytes.push(0);
        bytes[3] += 1;
        assert!(matches!(
            decode(&bytes, MAX_FRAME_LEN),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn small_frames_are_compact() {
        // 64-byte payload on a short topic: header 5 + variant 1 + topic 2 + seq 1 + len 1 + 64.
        assert_eq!(
            encode_to_vec(&publish(64)).unwrap().len(),
            5 + 1 + 2 + 1 + 1 + 64
        );
    }
}
