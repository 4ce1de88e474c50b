//! The reading half of a link: [`FrameReader`] reads the socket in large chunks and decodes every whole frame
//! a read brought, so a burst of small messages costs one read and one wake-up per batch, not per frame.
//!
//! Like [`FrameCodec`](super::FrameCodec), a frame's declared length is checked against the limit as soon as
//! its 4-byte prefix has arrived, so an oversized frame is refused before its body is buffered.
//!
//! A topic message is read in place ([`Inbound::Publish`]): its payload is a reference-counted slice of the read
//! buffer and its topic is shared with the link's recent messages on the same topic, so a message costs no
//! allocation and no copy here. The buffer is read into until it is nearly full, then a new one is started;
//! one is reused once every message sliced from it is dropped. (A message kept for long keeps its whole
//! buffer alive: copy the payload out to keep a few messages of many.)
//!
//! On a keyed link ([`FrameReader::sealed`]) the socket's bytes are sealed messages: each whole one is opened
//! into the plaintext buffer the frames are decoded from. A message that does not open closes the link and is
//! counted (`links.decrypt_failed`).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use herald_core::frame::{self, Frame, FrameView, Publish, Relayed};
use herald_core::handshake::SEALED_HEADER_LEN;
use herald_core::NodeId;
use smol_str::SmolStr;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::noise::Opener;
use super::{LinkCounters, LinkError};

/// Size of a fresh read buffer (more when a whole frame needs more).
pub const READ_CHUNK: usize = 64 * 1024;

/// A read buffer with less room than this left is replaced by a fresh one before the next read.
pub const MIN_READ_ROOM: usize = 4 * 1024;

/// Topics a link remembers for sharing ([`RecentTopics`]).
pub const RECENT_TOPICS: usize = 8;

/// What a link's reader yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A topic message, read in place.
    Publish(InboundPublish),
    /// Any other frame.
    Frame(Frame),
}

/// A topic message as a link read it: nothing copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPublish {
    /// The topic: inline when short, else shared with the link's other messages on it.
    pub topic: SmolStr,
    /// The publisher's sequence number.
    pub seq: u64,
    /// The bytes: a slice of the buffer they were read into.
    pub payload: Bytes,
    /// Relayed by the link's peer in another peer's name (a gateway's message from another site): that
    /// peer's node id and name (`name@site`).
    pub relayed: Option<(NodeId, SmolStr)>,
}

impl From<Inbound> for Frame {
    /// The owned frame (copies a topic message's parts).
    fn from(inbound: Inbound) -> Frame {
        match inbound {
            Inbound::Frame(frame) => frame,
            Inbound::Publish(inbound) => {
                let publish = Publish {
                    topic: inbound.topic.to_string(),
                    seq: inbound.seq,
                    payload: inbound.payload.to_vec().into(),
                };
                match inbound.relayed {
                    None => Frame::Publish(publish),
                    Some((peer, from_name)) => Frame::Relay {
                        peer,
                        frame: Relayed::Publish {
                            from_name: from_name.to_string(),
                            publish,
                        },
                    },
                }
            }
        }
    }
}

/// The last few topics (and relayed senders' names) a link's messages were on, so that a run of messages on one topic (or a few,
/// interleaved) shares one allocation of a long name, and a short one (held inline) is copied rather than
/// built anew.
#[derive(Debug, Default)]
struct RecentTopics {
    /// Newest first; at most [`RECENT_TOPICS`].
    topics: VecDeque<SmolStr>,
}

impl RecentTopics {
    fn share(&mut self, topic: &str) -> SmolStr {
        // Found: a copy (short) or a reference count (long); made anew only when not among the recent ones.
        if let Some(known) = self.topics.iter().find(|known| **known == *topic) {
            return known.clone();
        }
        if self.topics.len() == RECENT_TOPICS {
            self.topics.pop_back();
        }
        let shared = SmolStr::new(topic);
        self.topics.push_front(shared.clone());
        shared
    }
}

/// Reads frames from one link.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    /// Frames (plaintext), whole or in part.
    buf: BytesMut,
    max_len: usize,
    /// A keyed link's cipher and sealed bytes not yet opened.
    sealed: Option<Sealed>,
    topics: RecentTopics,
}

#[derive(Debug)]
struct Sealed {
    opener: Opener,
    raw: BytesMut,
    counters: Arc<LinkCounters>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from `io`, starting with the bytes already in `buf` (what a handshake read past its last
    /// frame), refusing frames over `max_len` bytes.
    pub fn new(io: R, buf: BytesMut, max_len: usize) -> Self {
        FrameReader {
            io,
            buf: with_room(buf),
            max_len,
            sealed: None,
            topics: RecentTopics::default(),
        }
    }

    /// Reads a keyed link: `raw` holds sealed bytes the handshake read past its end, `plain` what it already
    /// opened past the peer's `Hello`; `opener` opens the rest. Decryption failures are counted in `counters`.
    pub fn sealed(
        io: R,
        raw: BytesMut,
        plain: BytesMut,
        max_len: usize,
        opener: Opener,
        counters: Arc<LinkCounters>,
    ) -> Self {
        FrameReader {
            io,
            buf: with_room(plain),
            max_len,
            sealed: Some(Sealed {
                opener,
                raw,
                counters,
            }),
            topics: RecentTopics::default(),
        }
    }

    /// The next frame; `Ok(None)` on a clean close.
    pub async fn next(&mut self) -> Result<Option<Inbound>, LinkError> {
        loop {
            if let Some(frame) = self.decode_one()? {
                return Ok(Some(frame));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Appends to `out` every whole frame buffered (at most `max`), reading the socket first if none is:
    /// `Ok(false)` on a clean close, with nothing appended.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<Inbound>,
        max: usize,
    ) -> Result<bool, LinkError> {
        loop {
            let before = out.len();
            while out.len() - before < max {
                match self.decode_one()? {
                    Some(frame) => out.push(frame),
                    None => break,
                }
            }
            if out.len() > before {
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    fn decode_one(&mut self) -> Result<Option<Inbound>, LinkError> {
        let (view, used) = match frame::decode_view(&self.buf, self.max_len)? {
            Some(decoded) => decoded,
            None => return Ok(None),
        };
        let (publish, relayed) = match view {
            FrameView::Other(frame) => {
                self.buf.advance(used);
                return Ok(Some(Inbound::Frame(frame)));
            }
            FrameView::Publish(publish) => (publish, None),
            FrameView::RelayedPublish { from, publish } => (
                publish,
                Some((from.peer, self.topics.share(from.from_name))),
            ),
        };
        let topic = self.topics.share(publish.topic);
        let seq = publish.seq;
        let bytes = publish.payload.0;
        let start = bytes.as_ptr() as usize - self.buf.as_ptr() as usize;
        let len = bytes.len();
        // Only the payload is kept: one share of the buffer per message.
        self.buf.advance(start);
        let payload = self.buf.split_to(len).freeze();
        self.buf.advance(used - start - len);
        Ok(Some(Inbound::Publish(InboundPublish {
            topic,
            seq,
            payload,
            relayed,
        })))
    }

    /// Reads more bytes: `Ok(false)` on a clean close (the peer closed between frames).
    async fn fill(&mut self) -> Result<bool, LinkError> {
        let whole = frame::check(&self.buf, self.max_len)?;
        debug_assert!(whole.is_none(), "fill is only called without a whole frame");
        let needed = if self.buf.len() >= 4 {
            let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
            (4 + len as usize).saturating_sub(self.buf.len())
        } else {
            0
        };
        let Some(sealed) = &mut self.sealed else {
            self.buf.reserve(needed.max(MIN_READ_ROOM));
            if self.io.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(false);
                }
                return Err(cut_short());
            }
            return Ok(true);
        };
        self.buf.reserve(needed.max(MIN_READ_ROOM));
        loop {
            match sealed.opener.open(&mut sealed.raw, &mut self.buf) {
                Ok(0) => {}
                Ok(_) => return Ok(true),
                Err(err) => {
                    let err = LinkError::Cipher(err);
                    sealed.counters.count(&err);
                    return Err(err);
                }
            }
            let rest = if sealed.raw.len() >= SEALED_HEADER_LEN {
                let len = u16::from_be_bytes([sealed.raw[0], sealed.raw[1]]) as usize;
                (SEALED_HEADER_LEN + len).saturating_sub(sealed.raw.len())
            } else {
                0
            };
            sealed.raw.reserve(rest.max(READ_CHUNK));
            if self.io.read_buf(&mut sealed.raw).await? == 0 {
                if sealed.raw.is_empty() && self.buf.is_empty() {
                    return Ok(false);
                }
                return Err(cut_short());
            }
        }
    }
}

/// `buf`'s bytes in a buffer of at least [`READ_CHUNK`], so the buffers that replace it are as large.
fn with_room(buf: BytesMut) -> BytesMut {
    if buf.capacity() >= READ_CHUNK {
        return buf;
    }
    let mut roomy = BytesMut::with_capacity(READ_CHUNK.max(buf.len()));
    roomy.extend_from_slice(&buf);
    roomy
}

fn cut_short() -> LinkError {
    LinkError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the peer closed the link in the middle of a frame",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::frame::{encode, Publish, MAX_FRAME_LEN};
    use herald_core::DecodeError;
    use tokio::io::AsyncWriteExt;

    fn publish(seq: u64) -> Frame {
        Frame::Publish(Publish {
            topic: "t".into(),
            seq,
            payload: vec![seq as u8; 64].into(),
        })
    }

    #[tokio::test]
    async fn a_relayed_message_is_read_in_place_with_its_sender() {
        let peer = NodeId([6; 16]);
        let relay = |seq: u64| Frame::Relay {
            peer,
            frame: Relayed::Publish {
                from_name: "a1@a".into(),
                publish: Publish {
                    topic: "t".into(),
                    seq,
                    payload: vec![seq as u8; 64].into(),
                },
            },
        };
        let mut bytes = Vec::new();
        for seq in 0..3 {
            encode(&relay(seq), &mut bytes, MAX_FRAME_LEN).unwrap();
        }
        let mut reader = FrameReader::new(&bytes[..], BytesMut::new(), MAX_FRAME_LEN);
        let mut got = Vec::new();
        while reader.next_batch(&mut got, 64).await.unwrap() {}
        assert_eq!(got.len(), 3);
        for (seq, inbound) in got.into_iter().enumerate() {
            let Inbound::Publish(publish) = &inbound else {
                panic!("not read in place: {inbound:?}");
            };
            assert_eq!(publish.relayed, Some((peer, "a1@a".into())));
            assert_eq!(Frame::from(inbound), relay(seq as u64));
        }
    }

    #[tokio::test]
    async fn batches_hold_every_whole_frame_in_order_across_split_reads() {
        let (mut tx, rx) = tokio::io::duplex(1024);
        let mut bytes = Vec::new();
        for seq in 0..500 {
            encode(&publish(seq), &mut bytes, MAX_FRAME_LEN).unwrap();
        }
        let writing = tokio::spawn(async move {
            // Odd-sized pieces, so frames straddle reads.
            for piece in bytes.chunks(333) {
                tx.write_all(piece).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(rx, BytesMut::new(), MAX_FRAME_LEN);
        let mut got = Vec::new();
        while reader.next_batch(&mut got, 64).await.unwrap() {}
        writing.await.unwrap();
        let got: Vec<Frame> = got.into_iter().map(Frame::from).collect();
        assert_eq!(got, (0..500).map(publish).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn buffered_bytes_come_first_and_a_batch_stops_at_its_maximum() {
        let mut first = Vec::new();
        for seq in 0..3 {
            encode(&publish(seq), &mut first, MAX_FRAME_LEN).unwrap();
        }
        let (tx, rx) = tokio::io::duplex(64);
        drop(tx);
        let mut reader = FrameReader::new(rx, BytesMut::from(&first[..]), MAX_FRAME_LEN);
        let mut got = Vec::new();
        assert!(reader.next_batch(&mut got, 2).await.unwrap());
        assert_eq!(got.len(), 2);
        assert_eq!(
            reader.next().await.unwrap().map(Frame::from),
            Some(publish(2))
        );
        assert_eq!(reader.next().await.unwrap(), None, "a clean close");
    }

    #[tokio::test]
    async fn topic_messages_are_read_in_place_and_share_their_topic() {
        let mut bytes = Vec::new();
        for seq in 0..40 {
            let topic = ["a", "b", "c"][seq as usize % 3];
            let frame = Frame::Publish(Publish {
                topic: topic.into(),
                seq,
                payload: vec![seq as u8; 100].into(),
            });
            encode(&frame, &mut bytes, MAX_FRAME_LEN).unwrap();
        }
        encode(&Frame::Bye, &mut bytes, MAX_FRAME_LEN).unwrap();
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        tx.write_all(&bytes).await.unwrap();
        drop(tx);
        let mut reader = FrameReader::new(rx, BytesMut::new(), MAX_FRAME_LEN);
        let mut got = Vec::new();
        while reader.next_batch(&mut got, 1024).await.unwrap() {}
        assert_eq!(got.pop(), Some(Inbound::Frame(Frame::Bye)));
        let publishes: Vec<InboundPublish> = got
            .into_iter()
            .map(|inbound| match inbound {
                Inbound::Publish(publish) => publish,
                other => panic!("{other:?} is not a topic message"),
            })
            .collect();
        assert_eq!(publishes.len(), 40);
        for (seq, publish) in publishes.iter().enumerate() {
            assert_eq!(publish.seq, seq as u64);
            assert_eq!(&publish.payload[..], &[seq as u8; 100][..]);
            assert_eq!(publish.topic, ["a", "b", "c"][seq % 3]);
            // Payloads side by side in one read buffer.
            if seq > 0 {
                let previous = &publishes[seq - 1].payload;
                let gap = publish.payload.as_ptr() as usize - previous.as_ptr() as usize;
                assert!(gap < 200, "payload {seq} was copied elsewhere");
            }
        }
    }

    #[test]
    fn short_topics_are_inline_and_long_ones_shared() {
        let mut recent = RecentTopics::default();
        let short = recent.share("sensors.kitchen");
        assert!(!short.is_heap_allocated());
        let long = "plant.floor-2.line-7.press-3.temperature";
        let (first, again) = (recent.share(long), recent.share(long));
        assert!(first.is_heap_allocated());
        assert_eq!(
            first.as_str().as_ptr(),
            again.as_str().as_ptr(),
            "one allocation"
        );
        for other in 0..RECENT_TOPICS {
            recent.share(&format!("{long}.{other}"));
        }
        let evicted = recent.share(long);
        assert_ne!(first.as_str().as_ptr(), evicted.as_str().as_ptr());
        assert_eq!(evicted, long);
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_from_its_prefix_and_a_cut_frame_is_an_error() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&2048u32.to_be_bytes()).await.unwrap();
        let mut reader = FrameReader::new(rx, BytesMut::new(), 1024);
        assert!(matches!(
            reader.next().await,
            Err(LinkError::Decode(DecodeError::TooLarge {
                len: 2048,
                max: 1024
            }))
        ));
        let (mut tx, rx) = tokio::io::duplex(64);
        let bytes = frame::encode_to_vec(&publish(1)).unwrap();
        tx.write_all(&bytes[..10]).await.unwrap();
        drop(tx);
        let mut reader = FrameReader::new(rx, BytesMut::new(), MAX_FRAME_LEN);
        assert!(matches!(reader.next().await, Err(LinkError::Io(_))));
    }
}
