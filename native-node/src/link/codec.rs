//! [`FrameCodec`]: `herald_core::frame`'s length-prefixed codec for tokio-util's `Framed`.
//!
//! "Need more bytes" is `Ok(None)`, never an error. A frame's declared length is checked against the limit as
//! soon as its 4-byte prefix has arrived, so an oversized frame is refused before its body is buffered; the
//! read buffer then reserves only what the announced (accepted) frame needs.

use bytes::{Buf, BytesMut};
use herald_core::frame::{self, Frame, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use tokio_util::codec::{Decoder, Encoder};

use super::LinkError;

/// Encodes and decodes [`Frame`]s with a maximum frame length.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_len: usize,
    /// Reused for encoding, so a frame costs one copy into the write buffer and no allocation.
    scratch: Vec<u8>,
}

impl FrameCodec {
    /// A codec refusing frames over `max_len` bytes (version byte and body).
    pub fn new(max_len: usize) -> Self {
        FrameCodec {
            max_len,
            scratch: Vec::with_capacity(256),
        }
    }
}

impl FrameCodec {
    /// The largest frame (version byte and body) this codec sends or accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(MAX_FRAME_LEN)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = LinkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, LinkError> {
        match frame::check(src, self.max_len)? {
            Some(_) => {
                let (frame, used) =
                    frame::decode(src, self.max_len)?.expect("check said the frame is whole");
                src.advance(used);
                Ok(Some(frame))
            }
            None => {
                if src.len() >= 4 {
                    let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
                    src.reserve((4 + len).saturating_sub(src.len()));
                } else {
                    src.reserve(FRAME_HEADER_LEN);
                }
                Ok(None)
            }
        }
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = LinkError;

    fn encode(&mut self, item: &Frame, dst: &mut BytesMut) -> Result<(), LinkError> {
        self.scratch.clear();
        frame::encode(item, &mut self.scratch, self.max_len)?;
        dst.extend_from_slice(&self.scratch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::frame::Publish;
    use herald_core::{DecodeError, Payload};

    fn publish(len: usize) -> Frame {
        Frame::Publish(Publish {
            topic: "t".into(),
            seq: 7,
            payload: Payload(vec![1; len]),
        })
    }

    #[test]
    fn frames_arriving_a_byte_at_a_time_decode_once_whole() {
        let mut codec = FrameCodec::default();
        let bytes = frame::encode_to_vec(&publish(300)).unwrap();
        let mut buf = BytesMut::new();
        for (i, byte) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let got = codec.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i == bytes.len() - 1);
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_prefix() {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&2048u32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LinkError::Decode(DecodeError::TooLarge {
                len: 2048,
                max: 1024
            }))
        ));
        assert!(
            buf.capacity() < 2048,
            "nothing reserved for the refused body"
        );
    }

    #[test]
    fn encoding_respects_the_limit_and_keeps_earlier_frames() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::new();
        codec.encode(&Frame::Bye, &mut buf).unwrap();
        assert!(codec.encode(&publish(100), &mut buf).is_err());
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::Bye));
    }
}
