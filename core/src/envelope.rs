//! The datagram envelope shared by discovery ([`crate::discovery`]) and IP reports ([`crate::iplog`]).
//!
//! ```text
//! magic (4) | version (1) | flags (1) | postcard body | [timestamp_ms u64 BE (8) | mac (32)]   <- if flags & SIGNED
//! ```
//! The MAC (an HMAC computed by the node, which owns the key) covers every byte before it, timestamp included,
//! so a receiver can verify before it decodes the body. `core` only lays the bytes out.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DecodeError, EncodeError};
use crate::PROTOCOL_VERSION;

/// Bytes before the body: magic, version, flags.
pub const HEADER_LEN: usize = 6;
/// Bytes of the signature trailer: timestamp and MAC.
pub const TRAILER_LEN: usize = 8 + MAC_LEN;
/// Length of a MAC (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

const FLAG_SIGNED: u8 = 0b0000_0001;

/// A decoded datagram: the message, and its signature if it carried one (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a, M> {
    /// The decoded message.
    pub message: M,
    /// The signature trailer, for the receiver to verify with its key.
    pub auth: Option<DatagramAuth<'a>>,
}

/// A datagram's signature trailer, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramAuth<'a> {
    /// Sender's clock when signing (unix ms), for the replay window.
    pub timestamp_ms: u64,
    /// The MAC the sender computed over [`DatagramAuth::signed_bytes`].
    pub mac: [u8; MAC_LEN],
    /// Every byte the MAC covers: header, body and timestamp.
    pub signed_bytes: &'a [u8],
}

/// How to sign a datagram: the timestamp to embed and a function that computes the MAC over the bytes given.
pub struct Signer<'s> {
    /// Unix ms to embed (the caller's clock).
    pub timestamp_ms: u64,
    /// Computes the MAC over the bytes it is given.
    pub mac: &'s dyn Fn(&[u8]) -> [u8; MAC_LEN],
}

pub(crate) fn seal<M: Serialize>(
    magic: [u8; 4],
    message: &M,
    signer: Option<&Signer<'_>>,
    max: usize,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&magic);
    out.push(PROTOCOL_VERSION);
    out.push(if signer.is_some() { FLAG_SIGNED } else { 0 });
    let mut out = postcard::to_extend(message, out)?;
    if let Some(signer) = signer {
        out.extend_from_slice(&signer.timestamp_ms.to_be_bytes());
        let mac = (signer.mac)(&out);
        out.extend_from_slice(&mac);
    }
    if out.len() > max {
        return Err(EncodeError::TooLarge {
            len: out.len(),
            max,
        });
    }
    Ok(out)
}

pub(crate) fn open<M: DeserializeOwned>(
    magic: [u8; 4],
    bytes: &[u8],
    max: usize,
) -> Result<Datagram<'_, M>, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if bytes.len() < magic.len() || bytes[..magic.len()] != magic {
        return Err(DecodeError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Truncated {
            needed: HEADER_LEN,
            got: bytes.len(),
        });
    }
    let version = bytes[4];
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let flags = bytes[5];
    let (body, auth) = match flags {
        0 => (&bytes[HEADER_LEN..], None),
        FLAG_SIGNED => {
            let needed = HEADER_LEN + TRAILER_LEN;
            if bytes.len() < needed {
                return Err(DecodeError::Truncated {
                    needed,
                    got: bytes.len(),
                });
            }
            let mac_at = bytes.len() - MAC_LEN;
            let ts_at = mac_at - 8;
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&bytes[ts_at..mac_at]);
            let mut mac = [0u8; MAC_LEN];
            mac.copy_from_slice(&bytes[mac_at..]);
            let auth = DatagramAuth {
                timestamp_ms: u64::from_be_bytes(ts),
                mac,
                signed_bytes: &bytes[..mac_at],
            };
            (&bytes[HEADER_LEN..ts_at], Some(auth))
        }
        other => {
            return Err(DecodeError::Malformed(format!(
                "unknown flags {other:#04x}"
            )))
        }
    };
    let (message, rest) = postcard::take_from_bytes::<M>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes after the body",
            rest.len()
        )));
    }
    Ok(Datagram { message, auth })
}
