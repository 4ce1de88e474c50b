//! The messages that open a node-to-node link, and the framing of the bytes of an encrypted link. Sans-IO and
//! free of cryptography: the node drives the exchange and does the Noise part with the `snow` crate.
//!
//! ```text
//! both sides, at once:   Preamble { security }                        (in the clear)
//! plain (no key):        Hello frames, then frames, as frame.rs says   (in the clear)
//! keyed, dialer:         Noise(-> psk, e)                              (in the clear, authenticated by the PSK)
//! keyed, accepter:       Noise(<- e, ee)
//! keyed, both:           sealed messages; inside them Hello, then frames
//! either, on a mismatch: Refused { reason }, then close
//! ```
//!
//! Handshake messages use the frame envelope (`length u32 BE | version | postcard body`, see
//! [`crate::frame`]), so a peer of another protocol version fails on the version byte of the first message and
//! is answered `Refused { Version }`, as before. They are at most [`MAX_HANDSHAKE_LEN`] bytes.
//!
//! A sealed message is `length u16 BE | ciphertext`, the ciphertext one Noise transport message (at most
//! 65,535 bytes, of which [`NOISE_TAG_LEN`] are the tag), so a run of frames longer than
//! [`MAX_SEALED_PLAINTEXT`] is split over several. Decrypted, they form the same byte stream of frames as a
//! plain link.
//!
//! Both preambles are fed to Noise as the prologue ([`prologue`]), so a preamble changed on the way makes the
//! handshake fail.

use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, EncodeError};
use crate::frame::{self, RefuseReason};

/// The Noise protocol of keyed links: no static keys, the LAN key's PSK mixed in from the first message.
pub const NOISE_PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Largest handshake message (version byte and body); a Noise handshake message of this pattern is 48 bytes.
pub const MAX_HANDSHAKE_LEN: usize = 1024;

/// Largest Noise message, as the Noise specification sets it.
pub const MAX_NOISE_MESSAGE: usize = 65_535;

/// Bytes of the authentication tag at the end of every Noise transport message.
pub const NOISE_TAG_LEN: usize = 16;

/// Most plaintext one sealed message carries.
pub const MAX_SEALED_PLAINTEXT: usize = MAX_NOISE_MESSAGE - NOISE_TAG_LEN;

/// Bytes before a sealed message's ciphertext: its length.
pub const SEALED_HEADER_LEN: usize = 2;

/// What opens the prologue, so it never equals another protocol's.
const PROLOGUE_LABEL: &[u8] = b"herald link prologue";

/// How a side wants the link secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum Security {
    /// No key: frames in the clear, nothing authenticated.
    Plain,
    /// A LAN key: a [`NOISE_PATTERN`] handshake keyed by it, then sealed messages.
    Keyed,
}

/// The first message from each side, in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Preamble {
    /// How the sender secures links.
    pub security: Security,
}

/// A message of the link handshake (see the module doc for the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum HandshakeMessage {
    /// Sent first by both sides.
    Preamble(Preamble),
    /// One Noise handshake message (keyed links).
    Noise(
        #[cfg_attr(
            all(test, not(target_arch = "wasm32")),
            proptest(
                strategy = "proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)"
            )
        )]
        Vec<u8>,
    ),
    /// The sender refuses the link and closes it.
    Refused(RefuseReason),
}

/// Appends one encoded handshake message to `out`; fails (leaving `out` as it was) over [`MAX_HANDSHAKE_LEN`].
pub fn encode(message: &HandshakeMessage, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    frame::append(message, out, MAX_HANDSHAKE_LEN)
}

/// Decodes the first handshake message in `buf`: `Ok(Some((message, used)))`, `Ok(None)` when more bytes are
/// needed, or an error (`BadVersion` for a peer of another protocol version, `TooLarge` from the length
/// prefix alone).
pub fn decode(buf: &[u8]) -> Result<Option<(HandshakeMessage, usize)>, DecodeError> {
    frame::take(buf, MAX_HANDSHAKE_LEN)
}

/// What two preambles agree on: the link's security, or why it is refused (only one side has a key).
pub fn agree(mine: &Preamble, theirs: &Preamble) -> Result<Security, RefuseReason> {
    if mine.security == theirs.security {
        Ok(mine.security)
    } else {
        Err(RefuseReason::Auth)
    }
}

/// The Noise prologue of a keyed link: a label, the protocol version, then the dialer's and the accepter's
/// preambles as encoded. Both sides compute the same bytes, so any change to a preamble fails the handshake.
pub fn prologue(dialer: &Preamble, accepter: &Preamble) -> Vec<u8> {
    let mut out = PROLOGUE_LABEL.to_vec();
    out.push(crate::PROTOCOL_VERSION);
    for preamble in [dialer, accepter] {
        encode(&HandshakeMessage::Preamble(*preamble), &mut out)
            .expect("a preamble is a few bytes");
    }
    out
}

/// Checks the first sealed message in `buf`: `Ok(Some(len))` when its whole ciphertext (`len` bytes, after the
/// [`SEALED_HEADER_LEN`]-byte length) is there, `Ok(None)` when more bytes are needed, `Err` when the length
/// cannot be a Noise transport message (shorter than its tag).
pub fn check_sealed(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < SEALED_HEADER_LEN {
        return Ok(None);
    }
    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
    if len < NOISE_TAG_LEN {
        return Err(DecodeError::Malformed(format!(
            "a sealed message of {len} bytes is shorter than its tag"
        )));
    }
    if buf.len() < SEALED_HEADER_LEN + len {
        return Ok(None);
    }
    Ok(Some(len))
}

/// The length header of a sealed message whose ciphertext is `ciphertext_len` bytes (at most
/// [`MAX_NOISE_MESSAGE`]).
pub fn sealed_header(ciphertext_len: usize) -> [u8; SEALED_HEADER_LEN] {
    debug_assert!((NOISE_TAG_LEN..=MAX_NOISE_MESSAGE).contains(&ciphertext_len));
    (ciphertext_len as u16).to_be_bytes()
}

/// Bytes on the wire for `plain_len` bytes of plaintext sealed in as few messages as possible.
pub fn sealed_len(plain_len: usize) -> usize {
    let messages = plain_len.div_ceil(MAX_SEALED_PLAINTEXT).max(1);
    plain_len + messages * (SEALED_HEADER_LEN + NOISE_TAG_LEN)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEYED: Preamble = Preamble {
        security: Security::Keyed,
    };
    const PLAIN: Preamble = Preamble {
        security: Security::Plain,
    };

    proptest! {
        #[test]
        fn messages_round_trip_and_every_prefix_is_incomplete(message: HandshakeMessage) {
            let mut bytes = Vec::new();
            encode(&message, &mut bytes).unwrap();
            prop_assert_eq!(decode(&bytes).unwrap(), Some((message, bytes.len())));
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..cut]).unwrap(), None);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
            if let Ok(Some(len)) = check_sealed(&bytes) {
                prop_assert!(len >= NOISE_TAG_LEN && SEALED_HEADER_LEN + len <= bytes.len());
            }
        }

        #[test]
        fn agreement_is_symmetric(a: Preamble, b: Preamble) {
            prop_assert_eq!(agree(&a, &b), agree(&b, &a));
        }
    }

    #[test]
    fn golden_bytes_pin_the_preamble() {
        let mut bytes = Vec::new();
        encode(&HandshakeMessage::Preamble(KEYED), &mut bytes).unwrap();
        assert_eq!(bytes, [0, 0, 0, 3, crate::PROTOCOL_VERSION, 0, 1]);
    }

    #[test]
    fn only_equal_securities_agree() {
        assert_eq!(agree(&KEYED, &KEYED), Ok(Security::Keyed));
        assert_eq!(agree(&PLAIN, &PLAIN), Ok(Security::Plain));
        assert_eq!(agree(&PLAIN, &KEYED), Err(RefuseReason::Auth));
    }

    #[test]
    fn the_prologue_depends_on_both_preambles_and_their_order() {
        assert_ne!(prologue(&KEYED, &KEYED), prologue(&KEYED, &PLAIN));
        assert_ne!(prologue(&KEYED, &PLAIN), prologue(&PLAIN, &KEYED));
    }

    #[test]
    fn another_version_and_oversized_messages_are_named() {
        assert_eq!(
            decode(&[0, 0, 0, 3, 2, 0, 1]),
            Err(DecodeError::BadVersion(2))
        );
        assert!(matches!(
            decode(&[0, 1, 0, 0]),
            Err(DecodeError::TooLarge { .. })
        ));
        let too_big = HandshakeMessage::Noise(vec![0; MAX_HANDSHAKE_LEN]);
        let mut out = vec![1];
        assert!(encode(&too_big, &mut out).is_err());
        assert_eq!(out, [1]);
    }

    #[test]
    fn sealed_messages_are_checked_from_their_length() {
        assert_eq!(check_sealed(&[0]), Ok(None));
        assert!(check_sealed(&[0, 15]).is_err());
        assert_eq!(check_sealed(&[0, 16, 1, 2]), Ok(None));
        let mut whole = vec![0, 16];
        whole.extend([0; 16]);
        assert_eq!(check_sealed(&whole), Ok(Some(16)));
        assert_eq!(sealed_header(65_535), [0xff, 0xff]);
        assert_eq!(sealed_len(0), 18);
        assert_eq!(sealed_len(MAX_SEALED_PLAINTEXT), MAX_NOISE_MESSAGE + 2);
        assert_eq!(
            sealed_len(MAX_SEALED_PLAINTEXT + 1),
            MAX_SEALED_PLAINTEXT + 1 + 36
        );
    }
}
