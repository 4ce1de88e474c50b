//! Opening a link: [`connect`] dials a peer, [`accept`] takes an inbound connection; both run the handshake
//! and split the stream into an [`Established`] link: the peer, a [`LinkSender`] whose writer task is already
//! running, and the frame stream to read.

use std::net::SocketAddr;
use std::time::Duration;

use herald_core::frame::Frame;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};
use tokio_util::task::TaskTracker;

use super::handshake::{handshake, LocalIdentity};
use super::reader::FrameReader;
use super::writer::{channel, LinkSender, LinkWriter};
use super::{FrameCodec, LinkError, LinkPeer};
use crate::auth::Key;
use crate::queue::{OverflowPolicy, DEFAULT_QUEUE_FRAMES};

/// How links are made.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Who we are.
    pub me: LocalIdentity,
    /// The shared key, if any.
    pub key: Option<Key>,
    /// Largest frame accepted and sent.
    pub max_frame: usize,
    /// Outbound queue capacity (frames).
    pub queue_frames: usize,
    /// What a full outbound queue does.
    pub policy: OverflowPolicy,
    /// Deadline for connecting and for the handshake.
    pub handshake_timeout: Duration,
}

impl LinkConfig {
    /// Defaults: 1 MiB frames, 8192 queued frames, drop-oldest, 5 s handshake.
    pub fn new(me: LocalIdentity, key: Option<Key>) -> Self {
        LinkConfig {
            me,
            key,
            max_frame: herald_core::frame::MAX_FRAME_LEN,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            policy: OverflowPolicy::default(),
            handshake_timeout: super::handshake::HANDSHAKE_TIMEOUT,
        }
    }
}

/// The read side of a link: its socket half (bytes the handshake read past its last frame are in the
/// [`FrameReader`]'s buffer).
pub type LinkRead = OwnedReadHalf;

impl LinkConfig {
    /// An empty outbound queue for one link made with this config, and its writer.
    pub fn queue(&self) -> (LinkSender, LinkWriter) {
        channel(
            self.queue_frames,
            self.policy,
            FrameCodec::new(self.max_frame),
        )
    }
}

/// A link after a successful handshake.
pub struct Established {
    /// Who is at the other end.
    pub peer: LinkPeer,
    /// Where.
    pub addr: SocketAddr,
    /// Puts frames on the link (its writer runs on the tracker given).
    pub sender: LinkSender,
    /// Frames from the peer, one at a time or in batches.
    pub frames: FrameReader<LinkRead>,
}

impl Established {
    /// The next frame from the peer; `Ok(None)` on a clean close.
    pub async fn next(&mut self) -> Result<Option<Frame>, LinkError> {
        self.frames.next().await
    }

    /// Appends every frame already arrived (at least one, at most `max`) to `out`, waiting for the first;
    /// `Ok(false)` on a clean close.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<Frame>,
        max: usize,
    ) -> Result<bool, LinkError> {
        self.frames.next_batch(out, max).await
    }
}

/// Dials `addr` and runs the handshake.
pub async fn connect(
    addr: SocketAddr,
    config: &LinkConfig,
    tasks: &TaskTracker,
) -> Result<Established, LinkError> {
    let queue = config.queue();
    connect_queued(addr, config, tasks, queue).await
}

/// Dials `addr` and runs the handshake, then starts `queue`'s writer: frames put on its sender while the link
/// was being made are the first to go out. (On failure the writer is dropped; the caller closes the sender.)
pub async fn connect_queued(
    addr: SocketAddr,
    config: &LinkConfig,
    tasks: &TaskTracker,
    queue: (LinkSender, LinkWriter),
) -> Result<Established, LinkError> {
    let stream =
        match tokio::time::timeout(config.handshake_timeout, TcpStream::connect(addr)).await {
            Ok(stream) => stream?,
            Err(_) => return Err(LinkError::HandshakeTimeout),
        };
    establish(stream, addr, config, tasks, queue).await
}

/// Runs the handshake on an accepted connection.
pub async fn accept(
    stream: TcpStream,
    addr: SocketAddr,
    config: &LinkConfig,
    tasks: &TaskTracker,
) -> Result<Established, LinkError> {
    let queue = config.queue();
    establish(stream, addr, config, tasks, queue).await
}

async fn establish(
    stream: TcpStream,
    addr: SocketAddr,
    config: &LinkConfig,
    tasks: &TaskTracker,
    (sender, writer): (LinkSender, LinkWriter),
) -> Result<Established, LinkError> {
    stream.set_nodelay(true)?;
    let codec = FrameCodec::new(config.max_frame);
    let mut framed = Framed::new(stream, codec);
    let peer = handshake(
        &mut framed,
        &config.me,
        config.key.as_ref(),
        config.handshake_timeout,
    )
    .await?;
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    let (read_half, write_half) = io.into_split();
    // Frames the peer sent right behind its handshake may already be in the handshake's buffer: the reader
    // decodes what it holds before it reads the socket.
    let frames = FrameReader::new(read_half, read_buf, config.max_frame);
    let name = peer.name.clone();
    tasks.spawn(async move {
        if let Err(err) = writer.run_tcp(write_half).await {
            tracing::debug!(peer = %name, %err, "link write failed");
        }
    });
    Ok(Established {
        peer,
        addr,
        sender,
        frames,
    })
}
