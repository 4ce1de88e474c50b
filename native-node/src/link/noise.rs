//! The cipher layer of keyed links, through the `snow` crate: the Noise handshake
//! ([`NOISE_PATTERN`](herald_core::handshake::NOISE_PATTERN), the LAN key's PSK mixed in from the first
//! message, both preambles as the prologue), then [`Sealer`] and [`Opener`], which turn the link's plaintext
//! byte stream into sealed messages (`length u16 | Noise transport message`) and back.
//!
//! Each direction counts its messages: the count is the Noise nonce, so a sealed message that was changed,
//! replayed, dropped or reordered fails to open, and the link is closed. What the messages carry, how they
//! are framed and when the handshake messages go are `herald_core::handshake`'s; this module only does the
//! cryptography and keeps no socket.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use herald_core::handshake::{
    check_sealed, sealed_header, sealed_len, MAX_HANDSHAKE_LEN, MAX_SEALED_PLAINTEXT,
    NOISE_PATTERN, NOISE_TAG_LEN, SEALED_HEADER_LEN,
};
use herald_core::DecodeError;
use snow::{HandshakeState, StatelessTransportState};

/// Why the cipher layer failed; each ends the link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The Noise handshake failed: the peer holds another key (or a handshake message was changed on the way).
    #[error("the noise handshake failed: the peer has another key")]
    Handshake,
    /// A sealed message did not open: it was changed, replayed, reordered, or sealed with other keys.
    #[error("a sealed message did not decrypt (tampered with, replayed or reordered)")]
    Decrypt,
    /// A sealed message's length cannot be one (shorter than its tag).
    #[error("bad sealed message: {0}")]
    Framing(DecodeError),
    /// One direction of the link used every nonce (2^64 - 1 messages): it must be closed.
    #[error("the link's nonces are used up")]
    Exhausted,
}

/// The Noise handshake of one keyed link, from either end.
pub struct NoiseHandshake {
    state: HandshakeState,
}

impl std::fmt::Debug for NoiseHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseHandshake")
            .field("dialer", &self.state.is_initiator())
            .finish()
    }
}

impl NoiseHandshake {
    /// The dialer's (Noise initiator's) side, with the link PSK and the prologue both sides computed.
    pub fn dialer(psk: &[u8; 32], prologue: &[u8]) -> NoiseHandshake {
        NoiseHandshake::new(psk, prologue, true)
    }

    /// The accepter's (Noise responder's) side.
    pub fn accepter(psk: &[u8; 32], prologue: &[u8]) -> NoiseHandshake {
        NoiseHandshake::new(psk, prologue, false)
    }

    fn new(psk: &[u8; 32], prologue: &[u8], dialer: bool) -> NoiseHandshake {
        let params = NOISE_PATTERN.parse().expect("a pattern snow supports");
        let builder = snow::Builder::new(params)
            .psk(0, psk)
            .and_then(|b| b.prologue(prologue))
            .expect("psk position 0 and a prologue are valid for this pattern");
        let state = if dialer {
            builder.build_initiator()
        } else {
            builder.build_responder()
        }
        .expect("the built-in resolver has every primitive of the pattern");
        NoiseHandshake { state }
    }

    /// The next handshake message to send (its payload is empty).
    pub fn write(&mut self) -> Result<Vec<u8>, CipherError> {
        let mut message = vec![0; MAX_HANDSHAKE_LEN];
        let len = self
            .state
            .write_message(&[], &mut message)
            .map_err(|_| CipherError::Handshake)?;
        message.truncate(len);
        Ok(message)
    }

    /// Takes the peer's handshake message; fails when the peer has another key.
    pub fn read(&mut self, message: &[u8]) -> Result<(), CipherError> {
        let mut payload = vec![0; MAX_HANDSHAKE_LEN];
        self.state
            .read_message(message, &mut payload)
            .map(|_| ())
            .map_err(|_| CipherError::Handshake)
    }

    /// The two directions' ciphers, once both messages went.
    pub fn finish(self) -> Result<(Sealer, Opener), CipherError> {
        let transport = Arc::new(
            self.state
                .into_stateless_transport_mode()
                .map_err(|_| CipherError::Handshake)?,
        );
        Ok((
            Sealer {
                transport: transport.clone(),
                nonce: 0,
            },
            Opener {
                transport,
                nonce: 0,
            },
        ))
    }
}

/// Seals outgoing bytes: owned by whoever writes the socket, used in the order the bytes are written.
pub struct Sealer {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer {{ sent: {} }}", self.nonce)
    }
}

impl Sealer {
    /// Appends `plain` to `out` as sealed messages, each carrying at most
    /// [`MAX_SEALED_PLAINTEXT`](herald_core::handshake::MAX_SEALED_PLAINTEXT) bytes. Nothing for no bytes.
    pub fn seal(&mut self, plain: &[u8], out: &mut BytesMut) -> Result<(), CipherError> {
        if plain.is_empty() {
            return Ok(());
        }
        out.reserve(sealed_len(plain.len()));
        for piece in plain.chunks(MAX_SEALED_PLAINTEXT) {
            if self.nonce == u64::MAX {
                return Err(CipherError::Exhausted);
            }
            let ciphertext_len = piece.len() + NOISE_TAG_LEN;
            let start = out.len();
            out.extend_from_slice(&sealed_header(ciphertext_len));
            out.resize(start + SEALED_HEADER_LEN + ciphertext_len, 0);
            let written = self
                .transport
                .write_message(self.nonce, piece, &mut out[start + SEALED_HEADER_LEN..])
                .map_err(|_| CipherError::Exhausted)?;
            debug_assert_eq!(written, ciphertext_len);
            self.nonce += 1;
        }
        Ok(())
    }
}

/// Opens incoming sealed messages, in order.
pub struct Opener {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener {{ received: {} }}", self.nonce)
    }
}

impl Opener {
    /// Opens every whole sealed message at the front of `sealed`, removing it there and appending its
    /// plaintext to `plain`; returns how many were opened (0: more bytes are needed). On an error `plain`
    /// holds what opened before it, and the link must be closed.
    pub fn open(
        &mut self,
        sealed: &mut BytesMut,
        plain: &mut BytesMut,
    ) -> Result<usize, CipherError> {
        let mut opened = 0;
        while let Some(len) = check_sealed(sealed).map_err(CipherError::Framing)? {
            if self.nonce == u64::MAX {
                return Err(CipherError::Exhausted);
            }
            let start = plain.len();
            plain.resize(start + len - NOISE_TAG_LEN, 0);
            let ciphertext = &sealed[SEALED_HEADER_LEN..SEALED_HEADER_LEN + len];
            if self
                .transport
                .read_message(self.nonce, ciphertext, &mut plain[start..])
                .is_err()
            {
                plain.truncate(start);
                return Err(CipherError::Decrypt);
            }
            self.nonce += 1;
            sealed.advance(SEALED_HEADER_LEN + len);
            opened += 1;
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::handshake::MAX_NOISE_MESSAGE;

    const PSK: [u8; 32] = [7; 32];

    /// A finished handshake: (dialer's sealer and opener, accepter's sealer and opener).
    fn pair(
        dialer_psk: &[u8; 32],
        accepter_psk: &[u8; 32],
    ) -> Result<[(Sealer, Opener); 2], CipherError> {
        let mut dialer = NoiseHandshake::dialer(dialer_psk, b"prologue");
        let mut accepter = NoiseHandshake::accepter(accepter_psk, b"prologue");
        let first = dialer.write()?;
        assert_eq!(first.len(), 48, "e (32) and the tag of an empty payload");
        accepter.read(&first)?;
        let second = accepter.write()?;
        dialer.read(&second)?;
        Ok([dialer.finish()?, accepter.finish()?])
    }

    #[test]
    fn bytes_round_trip_across_the_65535_byte_split() {
        let [(mut seal, _), (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let plain: Vec<u8> = (0..3 * MAX_SEALED_PLAINTEXT + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut wire = BytesMut::new();
        seal.seal(&plain, &mut wire).unwrap();
        assert_eq!(wire.len(), sealed_len(plain.len()));
        // Four messages; the first three full size.
        assert_eq!(&wire[..2], &[0xff, 0xff]);
        assert_eq!(MAX_SEALED_PLAINTEXT + NOISE_TAG_LEN, MAX_NOISE_MESSAGE);
        assert!(
            !wire.windows(64).any(|w| w == &plain[1000..1064]),
            "no plaintext on the wire"
        );
        // Fed in odd pieces: nothing opens before a message is whole, everything once it is.
        let mut sealed = BytesMut::new();
        let mut got = BytesMut::new();
        for piece in wire.chunks(7_777) {
            sealed.extend_from_slice(piece);
            open.open(&mut sealed, &mut got).unwrap();
        }
        assert!(sealed.is_empty());
        assert_eq!(&got[..], &plain[..]);
    }

    #[test]
    fn both_directions_work_and_nothing_is_sealed_for_no_bytes() {
        let [(mut d_seal, mut d_open), (mut a_seal, mut a_open)] = pair(&PSK, &PSK).unwrap();
        let mut wire = BytesMut::new();
        d_seal.seal(&[], &mut wire).unwrap();
        assert!(wire.is_empty());
        d_seal.seal(b"to the accepter", &mut wire).unwrap();
        let mut got = BytesMut::new();
        assert_eq!(a_open.open(&mut wire, &mut got).unwrap(), 1);
        assert_eq!(&got[..], b"to the accepter");
        a_seal.seal(b"to the dialer", &mut wire).unwrap();
        let mut got = BytesMut::new();
        d_open.open(&mut wire, &mut got).unwrap();
        assert_eq!(&got[..], b"to the dialer");
    }

    fn sealed_messages(seal: &mut Sealer, texts: &[&[u8]]) -> Vec<BytesMut> {
        texts
            .iter()
            .map(|text| {
                let mut out = BytesMut::new();
                seal.seal(text, &mut out).unwrap();
                out
            })
            .collect()
    }

    #[test]
    fn a_tampered_message_does_not_open() {
        let [(mut seal, _), (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let mut wire = sealed_messages(&mut seal, &[b"pay alice 10"]).remove(0);
        wire[5] ^= 1;
        let mut got = BytesMut::new();
        assert_eq!(open.open(&mut wire, &mut got), Err(CipherError::Decrypt));
        assert!(got.is_empty(), "nothing of a bad message is kept");
    }

    #[test]
    fn a_replayed_message_does_not_open() {
        let [(mut seal, _), (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let messages = sealed_messages(&mut seal, &[b"once"]);
        let mut got = BytesMut::new();
        let mut wire = messages[0].clone();
        assert_eq!(open.open(&mut wire, &mut got), Ok(1));
        let mut again = messages[0].clone();
        assert_eq!(open.open(&mut again, &mut got), Err(CipherError::Decrypt));
        assert_eq!(&got[..], b"once");
    }

    #[test]
    fn reordered_or_dropped_messages_do_not_open() {
        let [(mut seal, _), (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let messages = sealed_messages(&mut seal, &[b"first", b"second", b"third"]);
        let mut got = BytesMut::new();
        let mut second = messages[1].clone();
        assert_eq!(open.open(&mut second, &mut got), Err(CipherError::Decrypt));
        // A fresh opener: the first goes, the third (the second dropped) does not.
        let [(mut seal, _), (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let messages = sealed_messages(&mut seal, &[b"first", b"second", b"third"]);
        let mut wire = messages[0].clone();
        wire.extend_from_slice(&messages[2]);
        assert_eq!(open.open(&mut wire, &mut got), Err(CipherError::Decrypt));
        assert_eq!(&got[..], b"first");
    }

    #[test]
    fn a_message_shorter_than_its_tag_is_a_framing_error() {
        let [_, (_, mut open)] = pair(&PSK, &PSK).unwrap();
        let mut wire = BytesMut::from(&[0u8, 3, 1, 2, 3][..]);
        assert!(matches!(
            open.open(&mut wire, &mut BytesMut::new()),
            Err(CipherError::Framing(_))
        ));
    }

    #[test]
    fn a_wrong_psk_fails_the_handshake_at_the_first_message() {
        let mut dialer = NoiseHandshake::dialer(&[1; 32], b"prologue");
        let mut accepter = NoiseHandshake::accepter(&[2; 32], b"prologue");
        let first = dialer.write().unwrap();
        assert_eq!(accepter.read(&first), Err(CipherError::Handshake));
        assert!(pair(&[1; 32], &[2; 32]).is_err());
    }

    #[test]
    fn a_changed_prologue_fails_the_handshake() {
        let mut dialer = NoiseHandshake::dialer(&PSK, b"keyed keyed");
        let mut accepter = NoiseHandshake::accepter(&PSK, b"plain keyed");
        let first = dialer.write().unwrap();
        assert_eq!(accepter.read(&first), Err(CipherError::Handshake));
    }
}
