//! Subscription streams: [`Subscription`], the lossless stream a reader holds, its bounded queue, the list of
//! every open stream with its patterns ([`Streams`]), and [`Inbox`], which gathers one batch of frames'
//! deliveries per stream so that each stream is locked and woken once per batch, not once per message.
//!
//! A full stream makes its producer wait (a link reader: that is the backpressure on the link) or, for a
//! local publish that must not wait, drop what does not fit (the caller counts it).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::local::LocalTopics;
use super::message::Message;
use crate::topics::TopicPattern;

/// Messages a [`Subscription`] holds for a reader that is behind; when full, the link reader waits (and with it
/// the TCP link, so the publisher's overflow policy decides: wait, or drop the oldest and send `Missed`). The
/// reader takes what is queued in one go, so at most twice this many are held per stream.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// A stream of the messages on some patterns, lossless: a reader that falls behind slows its own links (see
/// [`SUBSCRIPTION_CAPACITY`]) rather than losing messages here. What a publisher had to drop (its policy
/// `drop-oldest`) is reported in the stream, exactly where the gap is. Messages a stream receives are not also
/// put on the node's event stream.
pub struct Subscription {
    queue: Arc<StreamQueue>,
    /// Taken from the queue in one go, handed out one by one.
    taken: VecDeque<Delivery>,
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A message.
    Message(Message),
    /// Publisher `from` dropped `count` messages on `topic` for this node here, because it read too slowly.
    Missed {
        /// The publisher's name.
        from: String,
        /// The topic.
        topic: String,
        /// Messages dropped.
        count: u64,
    },
}

impl Subscription {
    /// The next message or gap notice; `None` once the node has shut down (and what was queued is read).
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(delivery) = self.taken.pop_front() {
                return Some(delivery);
            }
            if !self.take().await {
                return None;
            }
        }
    }

    /// Appends to `out` every message and gap notice waiting (at most `max`), waiting for the first; returns
    /// how many were appended, 0 once the node has shut down (and what was queued is read) or when `max` is 0.
    /// For readers that handle messages in batches: one wake-up and one lock per batch.
    pub async fn recv_many(&mut self, out: &mut Vec<Delivery>, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        if self.taken.is_empty() && !self.take().await {
            return 0;
        }
        let n = self.taken.len().min(max);
        out.extend(self.taken.drain(..n));
        n
    }

    /// Waits until deliveries are queued and takes them all into `taken`; false once the node has shut down
    /// and nothing is left.
    async fn take(&mut self) -> bool {
        debug_assert!(self.taken.is_empty());
        loop {
            let ready = self.queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut inner = self.queue.lock();
                if !inner.items.is_empty() {
                    let was_full = inner.items.len() >= SUBSCRIPTION_CAPACITY;
                    std::mem::swap(&mut inner.items, &mut self.taken);
                    drop(inner);
                    // Only a full queue can have link readers waiting for room.
                    if was_full {
                        self.queue.room.notify_waiters();
                    }
                    return true;
                }
                if inner.closed {
                    return false;
                }
            }
            ready.await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.queue.lock();
        inner.dropped = true;
        inner.items.clear();
        drop(inner);
        self.queue.room.notify_waiters();
    }
}

/// The queue between link readers (and local publishes) and one [`Subscription`].
struct StreamQueue {
    /// Held for a push or a take only; never across an `.await`.
    inner: Mutex<StreamInner>,
    /// Wakes the reader: deliveries are waiting, or the node shut down.
    ready: Notify,
    /// Wakes waiting producers: the reader took what was queued, or dropped the stream.
    room: Notify,
}

#[derive(Default)]
struct StreamInner {
    items: VecDeque<Delivery>,
    /// The node shut down: the reader gets what is queued, then `None`.
    closed: bool,
    /// The reader dropped its [`Subscription`]: nothing more is queued.
    dropped: bool,
}

impl StreamQueue {
    fn lock(&self) -> MutexGuard<'_, StreamInner> {
        lock(&self.inner)
    }

    fn is_dropped(&self) -> bool {
        self.lock().dropped
    }

    /// Queues every delivery in `batch`, in order, waiting for room when `wait` (else dropping what does not
    /// fit: the count is returned); the reader is woken once. Gives up when `shutdown` is cancelled.
    async fn push_all(
        &self,
        batch: &mut Vec<Delivery>,
        wait: bool,
        shutdown: &CancellationToken,
    ) -> u64 {
        let mut from = 0;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut inner = self.lock();
                if inner.dropped || inner.closed {
                    batch.clear();
                    return 0;
                }
                let was_empty = inner.items.is_empty();
                let fits = SUBSCRIPTION_CAPACITY
                    .saturating_sub(inner.items.len())
                    .min(batch.len() - from);
                inner.items.extend(batch.drain(from..from + fits));
                from = 0;
                drop(inner);
                if was_empty && fits > 0 {
                    self.ready.notify_one();
                }
            }
            if batch.is_empty() {
                return 0;
            }
            if !wait {
                let lost = batch.len() as u64;
                batch.clear();
                return lost;
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    batch.clear();
                    return 0;
                }
                _ = &mut room => {}
            }
        }
    }

    /// The node is shutting down.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
        self.room.notify_waiters();
    }
}

/// Every open stream with its patterns (a message goes to a stream once, whichever of its patterns match);
/// dropped ones are pruned when a stream is added.
#[derive(Default)]
pub(crate) struct Streams {
    /// Held to add, list or close streams; never across an `.await`.
    list: Mutex<Vec<(Vec<TopicPattern>, Arc<StreamQueue>)>>,
}

impl Streams {
    /// A new stream of the messages matching any of `patterns` (the caller also subscribes to them).
    pub fn open(&self, patterns: Vec<TopicPattern>) -> Subscription {
        let queue = Arc::new(StreamQueue {
            inner: Mutex::new(StreamInner::default()),
            ready: Notify::new(),
            room: Notify::new(),
        });
        let mut list = lock(&self.list);
        list.retain(|(_, s)| !s.is_dropped());
        list.push((patterns, queue.clone()));
        Subscription {
            queue,
            taken: VecDeque::new(),
        }
    }

    /// Closes every stream (shutdown): readers get what is queued, then `None`.
    pub fn close_all(&self) {
        for (_, stream) in lock(&self.list).drain(..) {
            stream.close();
        }
    }

    /// Calls `found` with each stream one of whose patterns matches `topic`.
    fn matching(&self, topic: &str, mut found: impl FnMut(&Arc<StreamQueue>)) {
        for (patterns, stream) in lock(&self.list).iter() {
            if patterns.iter().any(|p| p.matches(topic)) {
                found(stream);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deliveries gathered from one batch of frames, per stream, so that each stream is locked and woken once per
/// batch rather than once per message.
#[derive(Default)]
pub(crate) struct Inbox {
    /// Streams with deliveries waiting, in the order they were first met.
    batches: Vec<(Arc<StreamQueue>, Vec<Delivery>)>,
    /// Emptied batches, kept for their allocation.
    spare: Vec<Vec<Delivery>>,
    /// The last topic routed in this batch, with its streams (indices into `batches`) and whether this node
    /// wants it at all: consecutive messages on one topic are routed once.
    last: Option<(String, bool, Vec<usize>)>,
}

impl Inbox {
    /// Finds where a delivery on `topic` goes (this node's `local` subscriptions say whether it is wanted at
    /// all, `streams` which streams take it); [`Inbox::push`] then queues it there.
    pub fn route(&mut self, local: &LocalTopics, streams: &Streams, topic: &str) -> Route {
        let cached = matches!(&self.last, Some((t, _, _)) if t == topic);
        if !cached {
            let wanted = local.wants(topic);
            let mut targets = match self.last.take() {
                Some((_, _, mut targets)) => {
                    targets.clear();
                    targets
                }
                None => Vec::new(),
            };
            if wanted {
                streams.matching(topic, |stream| {
                    let at = match self
                        .batches
                        .iter()
                        .position(|(s, _)| Arc::ptr_eq(s, stream))
                    {
                        Some(at) => at,
                        None => {
                            let batch = self.spare.pop().unwrap_or_default();
                            self.batches.push((stream.clone(), batch));
                            self.batches.len() - 1
                        }
                    };
                    targets.push(at);
                });
            }
            self.last = Some((topic.to_owned(), wanted, targets));
        }
        match &self.last {
            Some((_, false, _)) | None => Route::Unwanted,
            Some((_, true, targets)) if targets.is_empty() => Route::NoStream,
            Some(_) => Route::Streams,
        }
    }

    /// Queues `delivery` for the streams the last [`Inbox::route`] found (a copy each).
    pub fn push(&mut self, delivery: Delivery) {
        let Some((_, _, targets)) = &self.last else {
            return;
        };
        let Some((&last, rest)) = targets.split_last() else {
            return;
        };
        for &at in rest {
            self.batches[at].1.push(delivery.clone());
        }
        self.batches[last].1.push(delivery);
    }

    /// Hands every gathered batch to its stream (waiting for room when `wait`); returns the deliveries dropped
    /// for lack of room. Forgets the routing: streams may change before the next batch.
    pub async fn flush(&mut self, wait: bool, shutdown: &CancellationToken) -> u64 {
        self.last = None;
        let mut lost = 0;
        for (stream, mut batch) in self.batches.drain(..) {
            if !batch.is_empty() {
                lost += stream.push_all(&mut batch, wait, shutdown).await;
            }
            self.spare.push(batch);
        }
        lost
    }
}

/// Where [`Inbox::route`] sends a delivery on a topic.
pub(crate) enum Route {
    /// To one or more streams.
    Streams,
    /// This node subscribes to the topic, but no stream takes it: it belongs on the event stream.
    NoStream,
    /// This node does not subscribe to the topic (any more): nowhere.
    Unwanted,
}
