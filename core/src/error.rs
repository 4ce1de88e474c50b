//! Errors of the codecs: what can go wrong turning bytes into wire types and back.
//!
//! Decoding never panics on untrusted input: every failure is a [`DecodeError`] variant. "Need more bytes" on
//! a stream is *not* an error: stream decoders return `Ok(None)` for it (see [`crate::frame::decode`]).

use thiserror::Error;

/// Why bytes could not be decoded into a wire type.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The declared or actual length exceeds the limit for this kind of message; nothing was buffered.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length declared by the length prefix (frames) or received (datagrams).
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// The protocol version byte is not one this build understands.
    #[error("unsupported protocol version {0}")]
    BadVersion(u8),
    /// The datagram does not start with Herald's magic bytes: someone else's traffic on the group or port.
    #[error("not a herald message (bad magic)")]
    BadMagic,
    /// A complete datagram is shorter than its fixed header or trailer.
    #[error("truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the fixed layout requires.
        needed: usize,
        /// Bytes actually present.
        got: usize,
    },
    /// The bytes have the right envelope but the body does not decode to the expected type.
    #[error("malformed body: {0}")]
    Malformed(String),
}

/// Why a value could not be encoded for the wire.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The encoded value would exceed the limit for this kind of message (e.g. a beacon over
    /// [`crate::discovery::MAX_DATAGRAM_LEN`]); the caller should send less (fewer topics in a beacon).
    #[error("encoded message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// A list in the value is longer than its wire bound (e.g. a peer list over
    /// [`crate::discovery::MAX_PEER_ADDRS`]); the caller should send fewer.
    #[error("{count} {what} exceed the limit of {max}")]
    TooMany {
        /// What the list holds.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The serializer failed (should not happen for Herald's types).
    #[error("serialization failed: {0}")]
    Serialize(String),
}

impl From<postcard::Error> for DecodeError {
    fn from(err: postcard::Error) -> Self {
        DecodeError::Malformed(err.to_string())
    }
}

impl From<postcard::Error> for EncodeError {
    fn from(err: postcard::Error) -> Self {
        EncodeError::Serialize(err.to_string())
    }
}
