//! Opening a link: [`connect`] dials a peer, [`accept`] takes an inbound connection; both run the handshake
//! and split the stream into an [`Established`] link: the peer, a [`LinkSender`] whose writer task is already
//! running (sealing what it writes on a keyed link), and the frame stream to read (opening it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_core::frame::Frame;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_util::task::TaskTracker;

use super::handshake::{handshake, Handshaken, LocalIdentity, Role};
use super::reader::{FrameReader, Inbound};
use super::writer::{channel, LinkSender, LinkWriter};
use super::{FrameCodec, LinkCounters, LinkError, LinkPeer};
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
    /// Refusals and decryption failures of every link made with this config.
    pub counters: Arc<LinkCounters>,
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
            counters: Arc::default(),
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
    /// The next frame from the peer (a topic message copied out of the read buffer); `Ok(None)` on a clean
    /// close.
    pub async fn next(&mut self) -> Result<Option<Frame>, LinkError> {
        Ok(self.frames.next().await?.map(Frame::from))
    }

    /// Appends every frame already arrived (at least one, at most `max`) to `out`, waiting for the first;
    /// `Ok(false)` on a clean close.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<Inbound>,
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
    establish(stream, addr, Role::Dialer, config, tasks, queue).await
}

/// Runs the handshake on an accepted connection.
pub async fn accept(
    stream: TcpStream,
    addr: SocketAddr,
    config: &LinkConfig,
    tasks: &TaskTracker,
) -> Result<Established, LinkError> {
    let queue = config.queue();
    establish(stream, addr, Role::Accepter, config, tasks, queue).await
}

async fn establish(
    mut stream: TcpStream,
    addr: SocketAddr,
    role: Role,
    config: &LinkConfig,
    tasks: &TaskTracker,
    (sender, writer): (LinkSender, LinkWriter),
) -> Result<Established, LinkError> {
    stream.set_nodelay(true)?;
    let done = handshake(
        &mut stream,
        &config.me,
        config.key.as_ref(),
        role,
        config.max_frame,
        config.handshake_timeout,
    )
    .await;
    let Handshaken {
        peer,
        ciphers,
        read_buf,
        plain_buf,
    } = done.inspect_err(|err| config.counters.count(err))?;
    let (read_half, write_half) = stream.into_split();
    // Frames the peer sent right behind its handshake may already be in the handshake's buffers: the reader
    // decodes what they hold before it reads the socket.
    let frames = match ciphers {
        None => FrameReader::new(read_half, read_buf, config.max_frame),
        Some((sealer, opener)) => {
            writer.seal_with(sealer);
            FrameReader::sealed(
                read_half,
                read_buf,
                plain_buf,
                config.max_frame,
                opener,
                config.counters.clone(),
            )
        }
    };
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
