//! The sending half of a link: [`LinkSender`] (cheap to clone) puts frames in the link's [`OutboundQueue`];
//! one writer task per link drains it in batches into the socket, so a burst of small messages costs a few
//! large writes rather than a syscall each.
//!
//! A full queue follows the link's [`OverflowPolicy`]: `DropOldest` drops and counts, `Disconnect` closes the
//! link, `Block` makes [`LinkSender::send`] wait for room (lossless). Nothing here ever blocks the caller of
//! [`LinkSender::try_send`], so one slow subscriber cannot stall a publisher that uses it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use herald_core::frame::Frame;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::codec::Encoder;

use super::{FrameCodec, LinkError};
use crate::queue::{EncodedPublish, Outbound, OutboundQueue, OverflowPolicy, Pushed};

/// Frames taken from the queue per write.
pub const FRAMES_PER_WRITE: usize = 1024;

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
    /// Held for a push or a drain only; never across an `.await`.
    queue: Mutex<OutboundQueue>,
    /// Wakes the writer: frames are waiting (or the link closed).
    work: Notify,
    /// Wakes blocked senders: the writer made room (or the link closed).
    room: Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
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
        publish: EncodedPublish,
    ) -> Result<Option<EncodedPublish>, SendError> {
        match self.push(publish.into())? {
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

    /// Frames waiting to be written.
    pub fn queued(&self) -> usize {
        self.queue().len()
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

    /// `Ok(None)`: queued. `Ok(Some(item))`: must wait (Block). `Err`: closed or too slow.
    fn push(&self, item: Outbound) -> Result<Option<Outbound>, SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let (pushed, was_empty) = {
            let mut queue = self.queue();
            let was_empty = queue.is_empty();
            (queue.push(item), was_empty)
        };
        match pushed {
            Pushed::Queued => {}
            Pushed::DroppedOldest { topic } => {
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

    fn queue(&self) -> MutexGuard<'_, OutboundQueue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
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
        queue: Mutex::new(OutboundQueue::new(capacity, policy)),
        work: Notify::new(),
        room: Notify::new(),
        closed: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    (
        LinkSender {
            shared: shared.clone(),
        },
        LinkWriter { shared, codec },
    )
}

impl LinkWriter {
    /// Writes queued frames to `socket` in batches until the link is closed (then flushes what was queued
    /// before the close) or a write fails.
    pub async fn run<W: AsyncWrite + Unpin>(mut self, mut socket: W) -> Result<(), LinkError> {
        let sender = LinkSender {
            shared: self.shared.clone(),
        };
        let mut frames = Vec::with_capacity(FRAMES_PER_WRITE);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let result = loop {
            frames.clear();
            let was_full = {
                let mut queue = sender.queue();
                let was_full = queue.is_full();
                queue.drain(FRAMES_PER_WRITE, &mut frames);
                was_full
            };
            if frames.is_empty() {
                if sender.is_closed() {
                    break Ok(());
                }
                self.shared.work.notified().await;
                continue;
            }
            // Only a full queue can have senders waiting (policy `Block`).
            if was_full {
                self.shared.room.notify_waiters();
            }
            buf.clear();
            for item in frames.drain(..) {
                match item {
                    Outbound::Publish(publish) => buf.extend_from_slice(&publish.bytes),
                    Outbound::Frame(frame) => {
                        if let Err(err) = self.codec.encode(&frame, &mut buf) {
                            tracing::warn!(%err, "frame not sent");
                        }
                    }
                }
            }
            if let Err(err) = socket.write_all(&buf).await {
                break Err(LinkError::Io(err));
            }
        };
        let _ = socket.flush().await;
        sender.close();
        result
    }
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
