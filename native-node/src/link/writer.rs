//! The sending half of a link: [`LinkSender`] (cheap to clone) puts frames in the link's [`OutboundQueue`];
//! one writer task per link drains it in batches into the socket, so a burst of small messages costs a few
//! large writes rather than a syscall each.
//!
//! A full queue follows the link's [`OverflowPolicy`]: `DropOldest` drops and counts, `Disconnect` closes the
//! link, `Block` makes [`LinkSender::send`] wait for room (lossless). Nothing here ever blocks the caller of
//! [`LinkSender::try_send`], so one slow subscriber cannot stall a publisher that uses it.
//!
//! On a TCP link ([`LinkWriter::run_tcp`]) a frame that is not a topic message (a question, an answer, a direct
//! message) sent while the link is idle (nothing queued, nobody writing) is written by the sender itself, with
//! one non-blocking write: a request and its reply then cost no wake-up of the writer task, which on a
//! multi-threaded runtime is often a hop to the other core. What such a write cannot finish at once is left
//! for the writer, ahead of anything queued, so order is kept. Topic messages always go through the queue,
//! where they are batched.
//!
//! On a keyed link ([`LinkWriter::seal_with`]) bytes are sealed by whoever holds the right to write (the writer
//! task, or a sender writing directly), just before they are written: sealed messages go out in the order they
//! were sealed, which is what the peer's nonces require. A leftover is kept sealed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use herald_core::frame::{self, Frame};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio_util::codec::Encoder;

use super::noise::Sealer;
use super::{FrameCodec, LinkError};
use crate::queue::{EncodedPublish, Outbound, OutboundQueue, OverflowPolicy, Pushed};

/// Frames taken from the queue per write.
pub const FRAMES_PER_WRITE: usize = 1024;

/// A writer that wrote fewer frames than this lets the runtime's other tasks run once before it takes the
/// next batch, so that under a stream of messages each write carries more of them (fewer system calls, and
/// less contention on the queue with the publisher). It costs a lone message nothing: the writer only
/// yields when it has just written.
pub const SMALL_WRITE: usize = FRAMES_PER_WRITE / 4;

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The link is closed.
    #[error("the link is closed")]
    Closed,
    /// The queue is full and the policy closed the link (or it is full of frames that cannot be dropped).
    #[error("the peer is too slow; the link was closed")]
    TooSlow,
}

struct Shared {
    /// Held for a push, a drain or a hand-over of the socket only; never across an `.await`.
    lane: Mutex<Lane>,
    /// Wakes the writer: frames are waiting (or the link closed).
    work: Notify,
    /// Wakes blocked senders: the writer made room (or the link closed).
    room: Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
    /// Frames accepted (queued or written directly) since the link opened: its traffic, for the dashboard.
    sent: AtomicU64,
    /// Encodes frames senders write directly.
    codec: FrameCodec,
    /// A keyed link's sealer; locked only by whoever holds the right to write (`Lane::writing`), so never
    /// contended.
    sealer: Mutex<Option<Sealer>>,
}

/// The queue, and who may write to the socket.
struct Lane {
    queue: OutboundQueue,
    /// The writer task, or a sender writing directly, owns the socket for now.
    writing: bool,
    /// The rest of a frame a sender could not write at once (sealed, on a keyed link): the writer sends it
    /// before anything queued.
    leftover: Option<Vec<u8>>,
    /// The socket, while the writer of a TCP link runs.
    direct: Option<Arc<OwnedWriteHalf>>,
}

impl Lane {
    /// The socket, if a sender may write to it now: nothing queued, nothing left over, nobody writing.
    fn idle_socket(&self) -> Option<Arc<OwnedWriteHalf>> {
        if self.writing || self.leftover.is_some() || !self.queue.is_empty() {
            return None;
        }
        self.direct.clone()
    }
}

/// Puts frames on one link. Clones share the link.
#[derive(Clone)]
pub struct LinkSender {
    shared: Arc<Shared>,
}

impl LinkSender {
    /// Queues a frame without waiting. With `Block`, a full queue of topic messages refuses with
    /// [`SendError::TooSlow`] only if the caller cannot wait; use [`LinkSender::send`] to wait instead.
    pub fn try_send(&self, frame: Frame) -> Result<(), SendError> {
        match self.push(frame.into())? {
            None => Ok(()),
            Some(_) => Err(SendError::TooSlow),
        }
    }

    /// Queues a frame without waiting: `Ok(None)` when queued, `Ok(Some(frame))` handed back when the policy is
    /// `Block` and the queue is full (then wait with [`LinkSender::send`]).
    pub fn offer(&self, frame: Frame) -> Result<Option<Frame>, SendError> {
        match self.push(frame.into())? {
            None => Ok(None),
            Some(Outbound::Frame(back)) => Ok(Some(back)),
            Some(Outbound::Publish(_)) => unreachable!("the queue hands back what it was given"),
        }
    }

    /// Queues a frame, waiting for room when the policy is `Block`.
    pub async fn send(&self, frame: Frame) -> Result<(), SendError> {
        self.send_outbound(frame.into()).await
    }

    /// Queues a topic message its publisher encoded once for every link, without waiting: `Ok(None)` when
    /// queued (or the oldest was dropped for it), `Ok(Some(message))` when the policy is `Block` and the queue
    /// is full (then wait with [`LinkSender::send_publish`]).
    pub fn try_publish(
        &self,
        publish: &EncodedPublish,
    ) -> Result<Option<EncodedPublish>, SendError> {
        match self.enqueue(|queue| queue.push_publish(publish))? {
            None => Ok(None),
            Some(Outbound::Publish(back)) => Ok(Some(back)),
            Some(Outbound::Frame(_)) => unreachable!("the queue hands back what it was given"),
        }
    }

    /// Queues an encoded topic message, waiting for room when the policy is `Block`.
    pub async fn send_publish(&self, publish: EncodedPublish) -> Result<(), SendError> {
        self.send_outbound(publish.into()).await
    }

    async fn send_outbound(&self, item: Outbound) -> Result<(), SendError> {
        let mut item = item;
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.push(item)? {
                None => return Ok(()),
                Some(back) => item = back,
            }
            room.await;
        }
    }

    /// Topic messages this link dropped (policy `DropOldest`).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Frames accepted since the link opened (queued or written).
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Frames waiting to be written.
    pub fn queued(&self) -> usize {
        self.lane().queue.len()
    }

    /// True once the link is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Closes the link: the writer stops after what it is writing; blocked senders get `Closed`.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.work.notify_one();
        self.shared.room.notify_waiters();
    }

    /// `Ok(None)`: queued (or written). `Ok(Some(item))`: must wait (Block). `Err`: closed or too slow.
    fn push(&self, item: Outbound) -> Result<Option<Outbound>, SendError> {
        if let Outbound::Frame(frame) = &item {
            if self.is_closed() {
                return Err(SendError::Closed);
            }
            let mut lane = self.lane();
            if let Some(socket) = lane.idle_socket() {
                lane.writing = true;
                drop(lane);
                self.write_directly(frame, &socket);
                self.shared.sent.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        }
        self.enqueue(|queue| queue.push(item))
    }

    /// Queues with `push` under the lane lock, then follows the queue's answer (see [`LinkSender::push`]).
    fn enqueue(
        &self,
        push: impl FnOnce(&mut OutboundQueue) -> Pushed,
    ) -> Result<Option<Outbound>, SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let (pushed, was_empty) = {
            let mut lane = self.lane();
            let was_empty = lane.queue.is_empty();
            (push(&mut lane.queue), was_empty)
        };
        match pushed {
            Pushed::Queued => {
                self.shared.sent.fetch_add(1, Ordering::Relaxed);
            }
            Pushed::DroppedOldest { topic } => {
                self.shared.sent.fetch_add(1, Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%topic, "slow peer: oldest queued message dropped");
            }
            Pushed::MustWait(item) => return Ok(Some(item)),
            Pushed::MustDisconnect => {
                tracing::debug!("slow peer: outbound queue full, closing the link");
                self.close();
                return Err(SendError::TooSlow);
            }
        }
        // The writer drains until the queue is empty before it waits, so only the first frame needs to wake it.
        if was_empty {
            self.shared.work.notify_one();
        }
        Ok(None)
    }

    /// Writes `frame` to the idle socket (this sender holds `writing`) with one non-blocking write; what it
    /// could not write is left to the writer. A socket error is the writer's to find and report: it closes the
    /// link on its next write.
    fn write_directly(&self, frame: &Frame, socket: &OwnedWriteHalf) {
        let mut buf = BytesMut::new();
        if let Err(err) = self.shared.codec.clone().encode(frame, &mut buf) {
            tracing::warn!(%err, "frame not sent");
        }
        if let Some(sealer) = self.shared.sealer().as_mut() {
            let mut sealed = BytesMut::with_capacity(herald_core::handshake::sealed_len(buf.len()));
            match sealer.seal(&buf, &mut sealed) {
                Ok(()) => buf = sealed,
                Err(err) => {
                    tracing::warn!(%err, "cannot seal; closing the link");
                    buf.clear();
                    self.close();
                }
            }
        }
        // WouldBlock (the socket is full) or an error: the writer takes the whole frame.
        let written = socket.try_write(&buf).unwrap_or_default();
        let wake = {
            let mut lane = self.lane();
            if written < buf.len() {
                lane.leftover = Some(buf[written..].to_vec());
            }
            lane.writing = false;
            lane.leftover.is_some() || !lane.queue.is_empty() || self.is_closed()
        };
        // Frames queued meanwhile (their senders saw the socket busy), a leftover, or a close that waited for
        // this write: the writer's turn.
        if wake {
            self.shared.work.notify_one();
        }
    }

    fn lane(&self) -> MutexGuard<'_, Lane> {
        self.shared.lane.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A link's queue and the task that writes it: create with [`channel`], run [`LinkWriter::run`] on a task.
pub struct LinkWriter {
    shared: Arc<Shared>,
    codec: FrameCodec,
}

/// A queue of `capacity` frames with `policy`, as a sender and the writer that empties it.
pub fn channel(
    capacity: usize,
    policy: OverflowPolicy,
    codec: FrameCodec,
) -> (LinkSender, LinkWriter) {
    let shared = Arc::new(Shared {
        lane: Mutex::new(Lane {
            queue: OutboundQueue::new(capacity, policy),
            writing: false,
            leftover: None,
            direct: None,
        }),
        work: Notify::new(),
        room: Notify::new(),
        closed: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        codec: codec.clone(),
        sealer: Mutex::new(None),
    });
    (
        LinkSender {
            shared: shared.clone(),
        },
        LinkWriter { shared, codec },
    )
}

impl Shared {
    fn sealer(&self) -> MutexGuard<'_, Option<Sealer>> {
        self.sealer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LinkWriter {
    /// Seals everything written from now on (a keyed link, once its handshake is done; before the writer
    /// runs, so nothing went out in the clear).
    pub fn seal_with(&self, sealer: Sealer) {
        *self.shared.sealer() = Some(sealer);
    }

    /// Writes queued frames to `socket` in batches until the link is closed (then flushes what was queued
    /// before the close) or a write fails.
    pub async fn run<W: AsyncWrite + Unpin>(mut self, mut socket: W) -> Result<(), LinkError> {
        let mut batch = Batch::new();
        let result = loop {
            match self.next_batch(&mut batch).await {
                Ok(Some(bytes)) => {
                    let written = socket.write_all(bytes).await;
                    self.done_writing();
                    if let Err(err) = written {
                        break Err(LinkError::Io(err));
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        let _ = socket.flush().await;
        self.finish();
        result
    }

    /// Like [`LinkWriter::run`] for a TCP link, where senders may also write directly while the link is idle
    /// (see the module doc).
    pub async fn run_tcp(mut self, socket: OwnedWriteHalf) -> Result<(), LinkError> {
        let socket = Arc::new(socket);
        self.sender().lane().direct = Some(socket.clone());
        let mut batch = Batch::new();
        let result = loop {
            match self.next_batch(&mut batch).await {
                Ok(Some(bytes)) => {
                    let written = write_all_shared(&socket, bytes).await;
                    self.done_writing();
                    if let Err(err) = written {
                        break Err(LinkError::Io(err));
                    }
                    if batch.count < SMALL_WRITE {
                        tokio::task::yield_now().await;
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        // The last reference closes the socket (FIN); a sender's direct write in progress holds one briefly.
        self.sender().lane().direct = None;
        drop(socket);
        self.finish();
        result
    }

    fn sender(&self) -> LinkSender {
        LinkSender {
            shared: self.shared.clone(),
        }
    }

    /// Waits for work and takes it: a sender's leftover first, then queued frames, encoded (and sealed, on a
    /// keyed link) into one buffer, with the right to write. `None` once the link is closed and nothing is
    /// left; an error when sealing fails (the link must close).
    async fn next_batch<'a>(
        &mut self,
        batch: &'a mut Batch,
    ) -> Result<Option<&'a [u8]>, LinkError> {
        let sender = self.sender();
        let max_frame = self.codec.max_len();
        let encode = |frame: &Frame, out: &mut Vec<u8>| {
            if let Err(err) = frame::encode(frame, out, max_frame) {
                tracing::warn!(%err, "frame not sent");
            }
        };
        // A link is keyed before its writer runs (`seal_with`) and stays so: read once here, so the sealer's lock
        // is never taken while the lane's is held. Frames are encoded under the lane's lock as they are taken
        // (control frames are few and small; topic messages are copied as they are).
        let keyed = self.shared.sealer().is_some();
        loop {
            batch.frames.clear();
            batch.sealed.clear();
            let (was_full, leftover) = {
                let mut lane = sender.lane();
                if lane.writing {
                    // A sender is writing directly; it wakes the writer when it is done.
                    (false, None)
                } else {
                    let was_full = lane.queue.is_full();
                    let leftover = lane.leftover.take();
                    // A leftover was written (and sealed) by a sender: it goes out first, as it is.
                    let into = match (&leftover, keyed) {
                        (Some(leftover), false) => {
                            batch.frames.extend_from_slice(leftover);
                            batch.frames.len()
                        }
                        _ => 0,
                    };
                    batch.count = lane
                        .queue
                        .drain(FRAMES_PER_WRITE, &mut batch.frames, encode);
                    if leftover.is_some() || batch.frames.len() > into {
                        lane.writing = true;
                    }
                    (was_full, leftover)
                }
            };
            if leftover.is_none() && batch.frames.is_empty() {
                if sender.is_closed() && !sender.lane().writing {
                    return Ok(None);
                }
                self.shared.work.notified().await;
                continue;
            }
            // Only a full queue can have senders waiting (policy `Block`).
            if was_full {
                self.shared.room.notify_waiters();
            }
            if !keyed {
                return Ok(Some(&batch.frames));
            }
            if let Some(leftover) = leftover {
                batch.sealed.extend_from_slice(&leftover);
            }
            if let Some(sealer) = self.shared.sealer().as_mut() {
                sealer.seal(&batch.frames, &mut batch.sealed)?;
            }
            return Ok(Some(&batch.sealed));
        }
    }

    /// Gives the socket back after a batch: senders may write directly again.
    fn done_writing(&self) {
        self.sender().lane().writing = false;
    }

    fn finish(&self) {
        self.sender().close();
    }
}

/// What the writer takes from the queue and writes at once.
struct Batch {
    /// The frames taken, encoded: what is written on a plain link, what is sealed on a keyed one.
    frames: Vec<u8>,
    /// Frames in the last batch taken.
    count: usize,
    /// What is written on a keyed link.
    sealed: BytesMut,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            frames: Vec::with_capacity(64 * 1024),
            count: 0,
            sealed: BytesMut::new(),
        }
    }
}

/// `write_all` on a socket shared with senders (`try_write` until done, waiting for room between).
async fn write_all_shared(socket: &OwnedWriteHalf, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match socket.try_write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => socket.writable().await?,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use herald_core::frame::Publish;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::FramedRead;

    fn publish(seq: u64) -> Frame {
        Frame::Publish(Publish {
            topic: "t".into(),
            seq,
            payload: vec![0u8; 64].into(),
        })
    }

    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    /// Reads every frame until the link closes: (publish seqs, total missed).
    async fn read_all(socket: TcpStream) -> (Vec<u64>, u64) {
        let mut frames = FramedRead::new(socket, FrameCodec::default());
        let (mut seqs, mut missed) = (Vec::new(), 0);
        while let Some(frame) = frames.next().await {
            match frame.unwrap() {
                Frame::Publish(p) => seqs.push(p.seq),
                Frame::Missed { count, .. } => missed += count,
                other => panic!("unexpected {other:?}"),
            }
        }
        (seqs, missed)
    }

    #[tokio::test]
    async fn block_delivers_everything_in_order_over_tcp() {
        let (a, b) = tcp_pair().await;
        let (sender, writer) = channel(64, OverflowPolicy::Block, FrameCodec::default());
        let writing = tokio::spawn(writer.run(a));
        let reading = tokio::spawn(read_all(b));
        for seq in 0..20_000 {
            sender.send(publish(seq)).await.unwrap();
        }
        sender.close();
        writing.await.unwrap().unwrap();
        let (seqs, missed) = reading.await.unwrap();
        assert_eq!(missed, 0);
        assert_eq!(seqs, (0..20_000).collect::<Vec<_>>());
        assert_eq!(sender.dropped(), 0);
    }

    #[tokio::test]
    async fn drop_oldest_never_waits_and_accounts_for_every_message() {
        let (a, b) = tcp_pair().await;
        let (sender, writer) = channel(64, OverflowPolicy::DropOldest, FrameCodec::default());
        // Nobody reads yet and the writer is not running: the queue overflows at once.
        for seq in 0..10_000 {
            sender.try_send(publish(seq)).unwrap();
        }
        assert!(sender.dropped() > 9_000);
        let writing = tokio::spawn(writer.run(a));
        sender.close();
        let (seqs, missed) = read_all(b).await;
        writing.await.unwrap().unwrap();
        assert_eq!(
            seqs.len() as u64 + missed,
            10_000,
            "every message delivered or reported missed"
        );
        assert_eq!(missed, sender.dropped());
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept");
        assert_eq!(*seqs.last().unwrap(), 9_999, "the newest are kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_writes_and_queued_frames_keep_their_order_even_when_the_socket_is_full() {
        keep_order_under_pressure(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sealed_direct_writes_and_queued_frames_keep_their_order_even_when_the_socket_is_full()
    {
        keep_order_under_pressure(true).await;
    }

    /// A keyed pair of ciphers: (the writer's sealer, the reader's opener).
    fn ciphers() -> (Sealer, super::super::noise::Opener) {
        use super::super::noise::NoiseHandshake;
        let mut dialer = NoiseHandshake::dialer(&[3; 32], b"test");
        let mut accepter = NoiseHandshake::accepter(&[3; 32], b"test");
        accepter.read(&dialer.write().unwrap()).unwrap();
        dialer.read(&accepter.write().unwrap()).unwrap();
        (dialer.finish().unwrap().0, accepter.finish().unwrap().1)
    }

    /// Direct writes and queued frames, nobody reading for a while, then everything read back in order
    /// (on a keyed link, every sealed message opened with the next nonce: sealed in the order written).
    async fn keep_order_under_pressure(keyed: bool) {
        use super::super::reader::FrameReader;
        let (a, b) = tcp_pair().await;
        let (_, write_half) = a.into_split();
        // Room for everything: the queue never drops (a control frame would evict a queued topic message).
        let (sender, writer) = channel(1 << 16, OverflowPolicy::Block, FrameCodec::default());
        let mut frames = if keyed {
            let (sealer, opener) = ciphers();
            writer.seal_with(sealer);
            FrameReader::sealed(
                b,
                BytesMut::new(),
                BytesMut::new(),
                herald_core::frame::MAX_FRAME_LEN,
                opener,
                Arc::default(),
            )
        } else {
            FrameReader::new(b, BytesMut::new(), herald_core::frame::MAX_FRAME_LEN)
        };
        let writing = tokio::spawn(writer.run_tcp(write_half));
        // Pings go out directly whenever the link is idle, topic messages through the queue; nobody reads
        // for a while, so the socket fills and direct writes leave their rest to the writer.
        let sending = tokio::spawn({
            let sender = sender.clone();
            async move {
                for seq in 0..10_000u64 {
                    let frame = if seq % 100 == 1 {
                        // Bigger than what one non-blocking write takes: the writer finishes it.
                        let mut payload = seq.to_be_bytes().to_vec();
                        payload.resize(256 * 1024, 7);
                        Frame::Direct {
                            payload: payload.into(),
                        }
                    } else if seq % 3 == 0 {
                        Frame::Ping { nonce: seq }
                    } else {
                        publish(seq)
                    };
                    sender.send(frame).await.unwrap();
                }
                sender.close();
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut next = 0u64;
        while let Some(frame) = frames.next().await.unwrap() {
            let seq = match Frame::from(frame) {
                Frame::Ping { nonce } => nonce,
                Frame::Publish(p) => p.seq,
                Frame::Direct { payload } => {
                    u64::from_be_bytes(payload.as_bytes()[..8].try_into().unwrap())
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(seq, next, "frames in the order they were sent");
            next += 1;
        }
        assert_eq!(next, 10_000);
        sending.await.unwrap();
        writing.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn disconnect_closes_the_link_when_full() {
        let (sender, _writer) = channel(4, OverflowPolicy::Disconnect, FrameCodec::default());
        for seq in 0..4 {
            sender.try_send(publish(seq)).unwrap();
        }
        assert_eq!(sender.try_send(publish(4)), Err(SendError::TooSlow));
        assert!(sender.is_closed());
        assert_eq!(sender.try_send(Frame::Bye), Err(SendError::Closed));
    }
}
