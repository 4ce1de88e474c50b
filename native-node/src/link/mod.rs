//! Node-to-node TCP links, in the shape of mini-redis's Connection/Listener. (Reconnection and the node's use of
//! links come with messaging.)
//!
//! - [`codec`]: [`FrameCodec`], `herald_core::frame` as a tokio-util codec; the size cap is checked from the
//!   5-byte header before anything is buffered.
//! - [`handshake`](mod@handshake): preambles, then (with a key) a Noise handshake, then `Hello` from both sides.
//! - [`noise`]: the cipher layer of keyed links (`snow`): the Noise handshake, sealing and opening the bytes.
//! - [`writer`]: the link's bounded queue and the task that writes it in batches.
//! - [`reader`]: reads the socket in large chunks and decodes frames in batches.
//! - [`connection`]: dialling and accepting: handshake, split, writer started.
//! - [`listener`]: the accept loop behind a semaphore, handing links to the node.

pub mod codec;
pub mod connection;
pub mod handshake;
pub mod listener;
pub mod noise;
pub mod reader;
pub mod writer;

pub use codec::FrameCodec;
pub use handshake::{handshake, LinkPeer};
pub use noise::CipherError;
pub use reader::{FrameReader, Inbound, InboundPublish};
pub use writer::{LinkSender, LinkWriter, SendError};

use std::sync::atomic::{AtomicU64, Ordering};

use herald_core::bridge::Stats;
use herald_core::frame::RefuseReason;
use herald_core::DecodeError;

/// Why a link failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The socket failed.
    #[error("link i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not a valid frame (oversized, bad version, malformed).
    #[error("bad frame from peer: {0}")]
    Decode(#[from] DecodeError),
    /// A frame could not be encoded (over the size limit).
    #[error("cannot encode frame: {0}")]
    Encode(#[from] herald_core::EncodeError),
    /// The peer closed the connection.
    #[error("peer closed the link")]
    Closed,
    /// The handshake did not finish in time (a peer that connects and says nothing).
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer sent a valid frame that makes no sense now.
    #[error("unexpected frame during the handshake: {0}")]
    Unexpected(&'static str),
    /// We refused the peer.
    #[error("refused the peer: {0:?}")]
    WeRefused(RefuseReason),
    /// The peer refused us.
    #[error("the peer refused the link: {0:?}")]
    TheyRefused(RefuseReason),
    /// The cipher layer of a keyed link failed (another key, or bytes tampered with, replayed or reordered).
    #[error("link cipher: {0}")]
    Cipher(CipherError),
}

/// Counters of links, both directions (inbound handshakes are also counted by the
/// [`listener`](listener::ListenerCounters)).
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Handshakes refused, by us or the peer, because only one side has a key or the keys differ.
    pub refused_auth: AtomicU64,
    /// Handshakes refused, by us or the peer, because the protocol versions differ.
    pub refused_version: AtomicU64,
    /// Keyed links closed because a sealed message did not decrypt (tampered with, replayed, reordered).
    pub decrypt_failed: AtomicU64,
}

impl LinkCounters {
    /// Counts what a failed handshake or read says about the peer.
    pub fn count(&self, err: &LinkError) {
        let counter = match err {
            LinkError::WeRefused(RefuseReason::Auth)
            | LinkError::TheyRefused(RefuseReason::Auth)
            | LinkError::Cipher(CipherError::Handshake) => &self.refused_auth,
            LinkError::WeRefused(RefuseReason::Version { .. })
            | LinkError::TheyRefused(RefuseReason::Version { .. }) => &self.refused_version,
            LinkError::Cipher(CipherError::Decrypt | CipherError::Framing(_)) => {
                &self.decrypt_failed
            }
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter by its public name.
    pub fn snapshot(&self) -> Stats {
        let mut stats = Stats::default();
        for (name, counter) in [
            ("links.refused.auth", &self.refused_auth),
            ("links.refused.version", &self.refused_version),
            ("links.decrypt_failed", &self.decrypt_failed),
        ] {
            stats
                .counters
                .insert(name.to_owned(), counter.load(Ordering::Relaxed));
        }
        stats
    }
}
