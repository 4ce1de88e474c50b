//! Node-to-node TCP links, in the shape of mini-redis's Connection/Listener. (Reconnection and the node's use of
//! links come with messaging.)
//!
//! - [`codec`]: [`FrameCodec`], `herald_core::frame` as a tokio-util codec; the size cap is checked from the
//!   5-byte header before anything is buffered.
//! - [`handshake`](mod@handshake): both sides say `Hello`; with a key each proves it by an HMAC over the other's fresh nonce.
//! - [`writer`]: the link's bounded queue and the task that writes it in batches.
//! - [`reader`]: reads the socket in large chunks and decodes frames in batches.
//! - [`connection`]: dialling and accepting: handshake, split, writer started.
//! - [`listener`]: the accept loop behind a semaphore, handing links to the node.

pub mod codec;
pub mod connection;
pub mod handshake;
pub mod listener;
pub mod reader;
pub mod writer;

pub use codec::FrameCodec;
pub use handshake::{handshake, LinkPeer};
pub use reader::FrameReader;
pub use writer::{LinkSender, LinkWriter, SendError};

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
}
