//! Messaging over links: this node's topic subscriptions, who on the LAN subscribes to what (with the optional
//! per-pattern bound), the outbound links it publishes, sends and asks over (opened on demand, never making
//! a caller wait for a connection), direct messages, and the reader task of every link.
//!
//! Each node publishes over links it opens itself and receives over links others open to it, so a pair of
//! nodes that both publish has two links, one per direction: order per publisher–subscriber pair is the
//! order of one TCP stream. A link to a peer that left or was lost is closed. A peer that cannot be reached is
//! retried with a backoff from [`RECONNECT_BACKOFF_MIN`] doubling to [`RECONNECT_BACKOFF_MAX`]; copies
//! meanwhile are counted as not queued.
//!
//! Who subscribes to what comes from beacons, and over links for what a beacon cannot hold: a node sends its
//! whole subscription list (as `Subscribe` frames) on every link it accepts, then each later `Subscribe` or
//! `Unsubscribe`. A publisher opens a link at once to a peer whose beacon says `more_topics`, so it learns the
//! rest before it publishes; its routes are the beacon's topics together with what came over the link.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_core::bridge::{MessageEvent, Targets};
use herald_core::frame::{self, Frame, RefuseReason, Relayed};
use herald_core::{NodeId, Payload};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::answering::MAX_CONCURRENT_ANSWERS;
use crate::ask::DEFAULT_MAX_PENDING;
use crate::asking::Asking;
use crate::clock::unix_ms;
use crate::discovery::peers::{LinkTarget, PeerChange, PeerEvent};
use crate::link::connection::{connect_queued, Established, LinkConfig};
use crate::link::{LinkPeer, LinkSender};
use crate::node::{NodeEvent, Shared};
use crate::queue::{EncodedPublish, OverflowPolicy};
use crate::stats::{bump, MessagingCounters};
use crate::topics::{validate_topic, SubscribeError, Subscriptions, TopicError, TopicPattern};

/// Messages a [`Subscription`] holds for a reader that is behind; when full, the link reader waits (and with it
/// the TCP link, so the publisher's overflow policy decides: wait, or drop the oldest and send `Missed`). The
/// reader takes what is queued in one go, so at most twice this many are held per stream.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// Frames a link reader decodes and hands on per wake-up at most.
pub const READ_BATCH: usize = 1024;

/// Patterns a peer may announce over links beyond its beacon; more are ignored (and logged).
pub const MAX_LINK_PATTERNS: usize = 4096;

/// Patterns per `Subscribe` frame when a node sends its whole list (255-byte patterns keep it under 64 KiB).
pub const PATTERNS_PER_FRAME: usize = 256;

/// How long after a first failed connection a peer is left alone; each further failure doubles it.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest a peer is left alone after failed connections.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// Why a publish failed as a whole (per-subscriber trouble is counted, not returned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The topic is not a valid topic name.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The message does not fit in one frame (see the link's maximum frame length).
    #[error("message too large: {0}")]
    TooLarge(String),
}

/// What became of a direct message to one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued on the link to the peer (delivered unless the link breaks first).
    Queued,
    /// No live peer has this name (or it takes no links).
    UnknownPeer,
    /// The peer is known but the message could not be queued (unreachable, or too slow: see the reason).
    NotQueued(String),
}

/// A peer that could not be reached: left alone until `until`, then retried.
struct Backoff {
    until: Instant,
    delay: Duration,
}

/// Messaging state of one node.
pub(crate) struct MessagingState {
    pub link_config: Arc<LinkConfig>,
    pub counters: MessagingCounters,
    /// Held briefly, never across an `.await`.
    links: Mutex<HashMap<NodeId, LinkSender>>,
    failures: Mutex<HashMap<NodeId, Backoff>>,
    subscriptions: Mutex<BTreeSet<TopicPattern>>,
    /// Who on the LAN subscribes to what, from their beacons, with the per-pattern bound.
    routes: Mutex<Subscriptions<NodeId>>,
    /// Patterns refused to a peer by the bound, retried when a subscriber goes away.
    refused: Mutex<BTreeMap<NodeId, BTreeSet<TopicPattern>>>,
    /// Patterns peers announced over links (`Subscribe`/`Unsubscribe`), beside their beacons' topics.
    link_patterns: Mutex<HashMap<NodeId, BTreeSet<TopicPattern>>>,
    /// Links other nodes opened to this one, where this node's subscription changes are sent. Locked inside
    /// `subscriptions`, so a change and the list sent to a new link never cross.
    accepted: Mutex<Vec<LinkSender>>,
    pub asking: Asking,
    pub answer_slots: Arc<Semaphore>,
    /// Readers' streams, each with its patterns (a message goes to a stream once, whichever of its patterns
    /// match); dropped ones are pruned.
    streams: Mutex<Vec<(Vec<TopicPattern>, Arc<StreamQueue>)>>,
    seq: AtomicU64,
    /// Bumped after every change to `links` or `routes`, so [`FanOut`] knows when to look again.
    generation: AtomicU64,
    /// Where the last topic published goes. Held for one publish's queueing, never across an `.await`.
    fanout: Mutex<FanOut>,
}

/// The subscribers of the topic published last and their links, kept while nothing changes, so a run of
/// messages on one topic looks nothing up per message; and the buffer messages are encoded in.
#[derive(Default)]
struct FanOut {
    topic: Option<Arc<str>>,
    generation: u64,
    /// Each subscriber, with its open link when it had one.
    targets: Vec<(NodeId, Option<LinkSender>)>,
    scratch: Vec<u8>,
}

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
    Message(MessageEvent),
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
                    continue;
                }
                if inner.closed {
                    return None;
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

/// Deliveries gathered from one batch of frames, per stream, so that each stream is locked and woken once per
/// batch rather than once per message.
#[derive(Default)]
struct Inbox {
    /// Streams with deliveries waiting, in the order they were first met.
    batches: Vec<(Arc<StreamQueue>, Vec<Delivery>)>,
    /// Emptied batches, kept for their allocation.
    spare: Vec<Vec<Delivery>>,
    /// The last topic routed in this batch, with its streams (indices into `batches`) and whether this node
    /// wants it at all: consecutive messages on one topic are routed once.
    last: Option<(String, bool, Vec<usize>)>,
}

impl Inbox {
    /// Finds where a delivery on `topic` goes; [`Inbox::push`] then queues it there.
    fn route(&mut self, shared: &Shared, topic: &str) -> Route {
        let cached = matches!(&self.last, Some((t, _, _)) if t == topic);
        if !cached {
            let wanted = shared.messaging.wants(topic);
            let mut targets = match self.last.take() {
                Some((_, _, mut targets)) => {
                    targets.clear();
                    targets
                }
                None => Vec::new(),
            };
            if wanted {
                let streams = lock(&shared.messaging.streams);
                for (patterns, stream) in streams.iter() {
                    if !patterns.iter().any(|p| p.matches(topic)) {
                        continue;
                    }
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
                }
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
    fn push(&mut self, delivery: Delivery) {
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
    async fn flush(&mut self, shared: &Shared, wait: bool) -> u64 {
        self.last = None;
        let mut lost = 0;
        for (stream, mut batch) in self.batches.drain(..) {
            if !batch.is_empty() {
                lost += stream.push_all(&mut batch, wait, &shared.shutdown).await;
            }
            self.spare.push(batch);
        }
        lost
    }
}

/// Where [`Inbox::route`] sends a delivery on a topic.
enum Route {
    /// To one or more streams.
    Streams,
    /// This node subscribes to the topic, but no stream takes it: it belongs on the event stream.
    NoStream,
    /// This node does not subscribe to the topic (any more): nowhere.
    Unwanted,
}

impl MessagingState {
    /// Messaging with `link_config`, at most `subscriber_limit` subscribers per pattern when given.
    pub fn new(link_config: LinkConfig, subscriber_limit: Option<u32>) -> Self {
        MessagingState {
            link_config: Arc::new(link_config),
            counters: MessagingCounters::default(),
            links: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(BTreeSet::new()),
            routes: Mutex::new(Subscriptions::new(subscriber_limit)),
            refused: Mutex::new(BTreeMap::new()),
            link_patterns: Mutex::new(HashMap::new()),
            accepted: Mutex::new(Vec::new()),
            asking: Asking::new(DEFAULT_MAX_PENDING),
            answer_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_ANSWERS)),
            streams: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            fanout: Mutex::new(FanOut::default()),
        }
    }

    /// Adds a local subscription; true if it is new.
    pub fn subscribe(&self, pattern: TopicPattern) -> bool {
        let mut subscriptions = lock(&self.subscriptions);
        let new = subscriptions.insert(pattern.clone());
        if new {
            self.tell_accepted(Frame::Subscribe {
                topics: vec![pattern.to_string()],
            });
        }
        new
    }

    /// Sends a subscription change on every accepted link (closed ones are pruned). Call with the
    /// subscriptions locked.
    fn tell_accepted(&self, frame: Frame) {
        let mut accepted = lock(&self.accepted);
        accepted.retain(|link| !link.is_closed());
        for link in accepted.iter() {
            if let Err(err) = link.try_send(frame.clone()) {
                tracing::debug!(%err, "subscription change not sent");
            }
        }
    }

    /// A new stream of the messages matching any of `patterns` (they must also be subscribed).
    pub fn stream(&self, patterns: Vec<TopicPattern>) -> Subscription {
        let queue = Arc::new(StreamQueue {
            inner: Mutex::new(StreamInner::default()),
            ready: Notify::new(),
            room: Notify::new(),
        });
        let mut streams = lock(&self.streams);
        streams.retain(|(_, s)| !s.is_dropped());
        streams.push((patterns, queue.clone()));
        Subscription {
            queue,
            taken: VecDeque::new(),
        }
    }

    /// Records that `links` or `routes` changed (call after the change).
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Topic messages dropped for slow subscribers so far, on open links and closed ones.
    pub fn dropped_for_slow(&self) -> u64 {
        let open: u64 = lock(&self.links).values().map(LinkSender::dropped).sum();
        open + self.counters.dropped_for_slow.load(Ordering::Relaxed)
    }

    /// The peers subscribing to `topic` (within the bound).
    pub fn subscribers(&self, topic: &str) -> Arc<[NodeId]> {
        lock(&self.routes).subscribers(topic)
    }

    /// Closes every subscription stream (shutdown).
    pub fn close_streams(&self) {
        for (_, stream) in lock(&self.streams).drain(..) {
            stream.close();
        }
    }

    /// Removes a local subscription; true if it was there.
    pub fn unsubscribe(&self, pattern: &TopicPattern) -> bool {
        let mut subscriptions = lock(&self.subscriptions);
        let removed = subscriptions.remove(pattern);
        if removed {
            self.tell_accepted(Frame::Unsubscribe {
                topics: vec![pattern.to_string()],
            });
        }
        removed
    }

    /// The local subscriptions, as announced in beacons.
    pub fn patterns(&self) -> Vec<String> {
        lock(&self.subscriptions)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    /// True when a local subscription matches `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        lock(&self.subscriptions).iter().any(|p| p.matches(topic))
    }

    /// Closes the link to a peer that left or was lost, drops its subscriptions and settles the questions
    /// waiting on it.
    fn forget(&self, node: &NodeId) {
        if let Some(sender) = lock(&self.links).remove(node) {
            let queued = sender.queued() as u64;
            if queued > 0 {
                self.counters
                    .discarded_on_close
                    .fetch_add(queued, Ordering::Relaxed);
                tracing::info!(peer = %node, queued, "link to a departed peer closed with frames still queued; discarded");
            }
            self.counters
                .dropped_for_slow
                .fetch_add(sender.dropped(), Ordering::Relaxed);
            sender.close();
            self.changed();
        }
        lock(&self.failures).remove(node);
        self.asking.node_gone(*node, None);
    }

    /// Closes every link (shutdown).
    pub fn close_all(&self) {
        for (_, sender) in lock(&self.links).drain() {
            let _ = sender.try_send(Frame::Bye);
            sender.close();
        }
        self.changed();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps messaging in step with the peer table: who subscribes to what (refusing patterns beyond the bound,
/// and telling the peer), and, for a peer that left or was lost, its link, subscriptions and questions.
pub(crate) fn on_peer_event(shared: &Arc<Shared>, event: &PeerEvent) {
    let messaging = &shared.messaging;
    let node = event.peer.node_id;
    match event.change {
        PeerChange::Left | PeerChange::Lost => {
            messaging.forget(&node);
            lock(&messaging.refused).remove(&node);
            lock(&messaging.link_patterns).remove(&node);
            lock(&messaging.routes).remove_subscriber(&node);
            messaging.changed();
            readmit_refused(shared);
        }
        PeerChange::Joined | PeerChange::Changed { .. } => {
            let mut wanted: BTreeSet<TopicPattern> = event
                .peer
                .topics
                .iter()
                .filter_map(|t| TopicPattern::parse(t).ok())
                .collect();
            if let Some(more) = lock(&messaging.link_patterns).get(&node) {
                wanted.extend(more.iter().cloned());
            }
            set_patterns(shared, node, &event.peer.name, wanted);
            // Its beacon could not hold every pattern: open the link now, the rest comes over it.
            let target = shared.table().target(&node);
            if let Some(target) = target.filter(|_| shared.table().more_topics(&node)) {
                sender_for(shared, &target);
            }
            if event.change != PeerChange::Joined {
                readmit_refused(shared);
            }
        }
    }
}

/// Makes `wanted` the patterns `node` subscribes to, refusing (and telling it, once) those beyond the bound.
fn set_patterns(shared: &Arc<Shared>, node: NodeId, name: &str, wanted: BTreeSet<TopicPattern>) {
    let messaging = &shared.messaging;
    let mut refusals = Vec::new();
    {
        let mut routes = lock(&messaging.routes);
        for old in routes.patterns_of(&node) {
            if !wanted.contains(&old) {
                routes.unsubscribe(&old, &node);
            }
        }
        let mut refused = lock(&messaging.refused);
        // A pattern already refused is not refused (counted, told) again.
        let before = refused.remove(&node).unwrap_or_default();
        for pattern in wanted {
            if let Err(SubscribeError::Limit { limit, .. }) = routes.subscribe(&pattern, node) {
                refused.entry(node).or_default().insert(pattern.clone());
                if !before.contains(&pattern) {
                    refusals.push((pattern, limit));
                }
            }
        }
    }
    messaging.changed();
    for (pattern, limit) in refusals {
        refuse_subscriber(shared, name, node, &pattern, limit);
    }
}

/// Tells a subscriber it is beyond the bound on `pattern` (it sees a `Refused` event), and counts it.
fn refuse_subscriber(
    shared: &Arc<Shared>,
    name: &str,
    node: NodeId,
    pattern: &TopicPattern,
    limit: u32,
) {
    bump(&shared.messaging.counters.subscribers_refused);
    tracing::info!(peer = %name, %pattern, limit, "subscriber refused: the pattern has its maximum of subscribers");
    let target = shared.table().target(&node);
    if let Some(sender) = target.and_then(|t| sender_for(shared, &t)) {
        let _ = sender.try_send(Frame::Refused {
            reason: RefuseReason::SubscriberLimit {
                topic: pattern.to_string(),
                limit,
            },
        });
    }
}

/// Admits refused subscribers while their patterns have room (after a subscriber went away).
fn readmit_refused(shared: &Shared) {
    let messaging = &shared.messaging;
    let mut refused = lock(&messaging.refused);
    if refused.is_empty() {
        return;
    }
    let mut routes = lock(&messaging.routes);
    refused.retain(|node, patterns| {
        patterns.retain(|pattern| {
            let admitted = routes.subscribe(pattern, *node).is_ok();
            if admitted {
                tracing::info!(%pattern, "a refused subscriber is admitted: the pattern has room again");
            }
            !admitted
        });
        !patterns.is_empty()
    });
    drop(routes);
    messaging.changed();
}

/// Publishes on `topic`: to local subscribers (their streams, else as a node event) and to every live peer
/// whose announced topics match, over its link. The message is encoded once and the same bytes are queued on
/// every link. Returns how many subscribers (local counts as one) it was queued for.
pub(crate) async fn publish(
    shared: &Arc<Shared>,
    topic: &str,
    payload: Payload,
) -> Result<usize, PublishError> {
    validate_topic(topic)?;
    let messaging = &shared.messaging;
    bump(&messaging.counters.published);
    let seq = messaging.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let mut reached = 0;
    // Queue on every open link at once (no waiting under the lock); links to open, and links whose queue is
    // full under `Block`, are dealt with afterwards.
    let mut unlinked = Vec::new();
    let mut full = Vec::new();
    let mut queued = 0u64;
    let mut not_queued = 0u64;
    let mut encoded = None;
    {
        let mut fanout = lock(&messaging.fanout);
        let fanout = &mut *fanout;
        let generation = messaging.generation.load(Ordering::Acquire);
        if fanout.generation != generation || fanout.topic.as_deref() != Some(topic) {
            let subscribers = messaging.subscribers(topic);
            let links = lock(&messaging.links);
            fanout.targets.clear();
            fanout.targets.extend(subscribers.iter().map(|node| {
                let sender = links.get(node).filter(|s| !s.is_closed()).cloned();
                (*node, sender)
            }));
            fanout.topic = Some(topic.into());
            fanout.generation = generation;
        }
        if !fanout.targets.is_empty() {
            fanout.scratch.clear();
            frame::encode_publish(
                topic,
                seq,
                payload.as_bytes(),
                &mut fanout.scratch,
                messaging.link_config.max_frame,
            )
            .map_err(|err| PublishError::TooLarge(err.to_string()))?;
            let publish = EncodedPublish {
                topic: fanout.topic.clone().expect("set above"),
                bytes: fanout.scratch.as_slice().into(),
            };
            for (node, sender) in &fanout.targets {
                let Some(sender) = sender.as_ref().filter(|s| !s.is_closed()) else {
                    unlinked.push(*node);
                    continue;
                };
                match sender.try_publish(publish.clone()) {
                    Ok(None) => queued += 1,
                    Ok(Some(back)) => full.push((sender.clone(), back)),
                    Err(err) => {
                        not_queued += 1;
                        tracing::debug!(peer = %node, %err, "message not queued");
                    }
                }
            }
            encoded = Some(publish);
        }
    }
    if messaging.wants(topic) {
        let event = MessageEvent {
            from: shared.node_id,
            from_name: shared.config.name.clone(),
            topic: Some(topic.to_owned()),
            payload,
            at_ms: unix_ms(),
        };
        // Local readers get the publisher's policy: wait for room with Block, else drop (counted).
        let wait = shared.config.overflow == OverflowPolicy::Block;
        let mut inbox = Inbox::default();
        match inbox.route(shared, topic) {
            Route::Streams => {
                inbox.push(Delivery::Message(event));
                let lost = inbox.flush(shared, wait).await;
                if lost > 0 {
                    messaging
                        .counters
                        .local_dropped
                        .fetch_add(lost, Ordering::Relaxed);
                    tracing::debug!(%topic, "local subscription full: message dropped");
                }
            }
            Route::NoStream | Route::Unwanted => shared.emit(NodeEvent::Message(event)),
        }
        reached += 1;
    }
    if let Some(encoded) = encoded {
        for node in unlinked {
            match link_to(shared, &node) {
                Some(sender) => full.push((sender, encoded.clone())),
                None => not_queued += 1,
            }
        }
    }
    for (sender, publish) in full {
        match sender.send_publish(publish).await {
            Ok(()) => queued += 1,
            Err(err) => {
                not_queued += 1;
                tracing::debug!(%err, "message not queued");
            }
        }
    }
    if queued > 0 {
        messaging
            .counters
            .queued
            .fetch_add(queued, Ordering::Relaxed);
    }
    if not_queued > 0 {
        messaging
            .counters
            .not_queued
            .fetch_add(not_queued, Ordering::Relaxed);
    }
    Ok(reached + queued as usize)
}

/// Sends a direct message to each target name (every live peer that takes links, for `Targets::All`).
pub(crate) async fn send_direct(
    shared: &Arc<Shared>,
    targets: &Targets,
    payload: Payload,
) -> BTreeMap<String, SendOutcome> {
    let names = match targets {
        Targets::All => shared.table().linkable_names(),
        Targets::Names(names) => names.clone(),
    };
    let mut outcomes = BTreeMap::new();
    for name in names {
        let (target, kind) = {
            let table = shared.table();
            let kind = table.by_name(&name).map(|p| p.kind).unwrap_or_default();
            (table.target_by_name(&name), kind)
        };
        if let Err(reason) = crate::relaying::carriable(kind, &payload, false) {
            bump(&shared.messaging.counters.relay_failed);
            outcomes.insert(name, SendOutcome::NotQueued(reason));
            continue;
        }
        let local = target
            .as_ref()
            .and_then(|t| crate::relaying::local_proxy(shared, t));
        let outcome = match (target, local) {
            (None, _) => SendOutcome::UnknownPeer,
            (Some(_), Some(peer)) => {
                match crate::relaying::deliver_here(shared, peer, payload.clone()) {
                    Ok(()) => {
                        bump(&shared.messaging.counters.direct_sent);
                        SendOutcome::Queued
                    }
                    Err(reason) => SendOutcome::NotQueued(reason),
                }
            }
            (Some(target), None) => match sender_for(shared, &target) {
                None => SendOutcome::NotQueued("the peer was unreachable a moment ago".into()),
                Some(sender) => match sender
                    .send(crate::relaying::addressed(
                        &target,
                        Relayed::Direct {
                            payload: payload.clone(),
                        },
                    ))
                    .await
                {
                    Ok(()) => {
                        bump(&shared.messaging.counters.direct_sent);
                        SendOutcome::Queued
                    }
                    Err(err) => SendOutcome::NotQueued(err.to_string()),
                },
            },
        };
        outcomes.insert(name, outcome);
    }
    outcomes
}

/// The open link to `node`, else one opened from the peer table.
fn link_to(shared: &Arc<Shared>, node: &NodeId) -> Option<LinkSender> {
    if let Some(sender) = lock(&shared.messaging.links)
        .get(node)
        .filter(|s| !s.is_closed())
    {
        return Some(sender.clone());
    }
    let target = shared.table().target(node)?;
    sender_for(shared, &target)
}

/// The link to `peer`, opening one (in the background) if there is none; `None` while the peer is in its
/// reconnect backoff.
pub(crate) fn sender_for(shared: &Arc<Shared>, peer: &LinkTarget) -> Option<LinkSender> {
    let messaging = &shared.messaging;
    let mut links = lock(&messaging.links);
    if let Some(sender) = links.get(&peer.node_id).filter(|s| !s.is_closed()) {
        return Some(sender.clone());
    }
    if lock(&messaging.failures)
        .get(&peer.node_id)
        .is_some_and(|b| Instant::now() < b.until)
    {
        tracing::debug!(peer = %peer.name, "peer unreachable a moment ago; not queued");
        return None;
    }
    let addr = peer.tcp;
    let (sender, writer) = messaging.link_config.queue();
    if let Some(old) = links.insert(peer.node_id, sender.clone()) {
        messaging
            .counters
            .dropped_for_slow
            .fetch_add(old.dropped(), Ordering::Relaxed);
    }
    drop(links);
    messaging.changed();
    let (shared, queued, node_id, name) = (
        shared.clone(),
        sender.clone(),
        peer.node_id,
        peer.name.clone(),
    );
    shared.clone().tasks.spawn(async move {
        let config = shared.messaging.link_config.clone();
        match connect_queued(addr, &config, &shared.tasks, (queued.clone(), writer)).await {
            Ok(link) => {
                bump(&shared.messaging.counters.links_opened);
                lock(&shared.messaging.failures).remove(&node_id);
                // The peer sends its whole list on this new link: what an older link said is replaced.
                lock(&shared.messaging.link_patterns).remove(&node_id);
                tracing::debug!(peer = %name, %addr, "link opened");
                serve(shared.clone(), link).await;
                // Questions sent over this link cannot be answered any more.
                shared
                    .messaging
                    .asking
                    .node_gone(node_id, Some("the link closed before an answer".into()));
            }
            Err(err) => {
                bump(&shared.messaging.counters.links_failed);
                queued.close();
                let delay = {
                    let mut failures = lock(&shared.messaging.failures);
                    let delay = failures.get(&node_id).map_or(RECONNECT_BACKOFF_MIN, |b| {
                        (b.delay * 2).min(RECONNECT_BACKOFF_MAX)
                    });
                    failures.insert(
                        node_id,
                        Backoff {
                            until: Instant::now() + delay,
                            delay,
                        },
                    );
                    delay
                };
                tracing::info!(peer = %name, %addr, %err, retry_in = ?delay, "cannot open a link");
                shared
                    .messaging
                    .asking
                    .node_gone(node_id, Some(format!("cannot open a link: {err}")));
            }
        }
    });
    Some(sender)
}

/// Hands a direct message (no topic) to this node's event stream.
fn deliver_direct(shared: &Shared, event: MessageEvent) {
    shared.emit(NodeEvent::Message(event));
}

/// A peer's `Subscribe` (`add`) or `Unsubscribe` over a link: its routes become its beacon's topics together
/// with every pattern it announced over links. Ignored for a peer not (or no longer) in the peer table.
fn on_link_patterns(shared: &Arc<Shared>, from: &LinkPeer, topics: Vec<String>, add: bool) {
    let messaging = &shared.messaging;
    let Some(beacon_topics) = shared
        .table()
        .by_name(&from.name)
        .filter(|p| p.node_id == from.node_id)
        .map(|p| p.topics.clone())
    else {
        tracing::debug!(peer = %from.name, "subscription change from a peer not in the table; ignored");
        return;
    };
    let mut wanted: BTreeSet<TopicPattern> = beacon_topics
        .iter()
        .filter_map(|t| TopicPattern::parse(t).ok())
        .collect();
    {
        let mut link_patterns = lock(&messaging.link_patterns);
        let patterns = link_patterns.entry(from.node_id).or_default();
        for topic in topics {
            let Ok(pattern) = TopicPattern::parse(&topic) else {
                tracing::debug!(peer = %from.name, %topic, "not a valid pattern; ignored");
                continue;
            };
            if !add {
                patterns.remove(&pattern);
            } else if patterns.len() < MAX_LINK_PATTERNS {
                patterns.insert(pattern);
            } else {
                tracing::warn!(peer = %from.name, max = MAX_LINK_PATTERNS, "too many patterns announced over links; ignored");
            }
        }
        wanted.extend(patterns.iter().cloned());
    }
    set_patterns(shared, from.node_id, &from.name, wanted);
}

/// Serves a link another node opened to this one: it is told this node's whole subscription list first (and
/// every change after), then read like any link.
pub(crate) async fn serve_accepted(shared: Arc<Shared>, link: Established) {
    {
        let messaging = &shared.messaging;
        let subscriptions = lock(&messaging.subscriptions);
        let patterns: Vec<String> = subscriptions.iter().map(|p| p.to_string()).collect();
        // At least one frame, even empty: the peer dropped what an older link said and reroutes on it.
        let mut chunks = patterns.chunks(PATTERNS_PER_FRAME).peekable();
        if chunks.peek().is_none() {
            let _ = link
                .sender
                .try_send(Frame::Subscribe { topics: Vec::new() });
        }
        for chunk in chunks {
            if let Err(err) = link.sender.try_send(Frame::Subscribe {
                topics: chunk.to_vec(),
            }) {
                tracing::debug!(peer = %link.peer.name, %err, "subscription list not sent");
            }
        }
        let mut accepted = lock(&messaging.accepted);
        accepted.retain(|l| !l.is_closed());
        accepted.push(link.sender.clone());
        drop(accepted);
        drop(subscriptions);
    }
    serve(shared, link).await;
}

/// Reads one link until it closes: topic messages go to the matching subscription streams (else to the event
/// stream), direct messages become node events, questions go to the answer handler (each in its own task),
/// answers settle this node's questions, `Ping` is answered. Frames are taken in batches: each stream is woken
/// once per batch, and a full stream makes this reader wait, which is the backpressure on the link.
pub(crate) async fn serve(shared: Arc<Shared>, mut link: Established) {
    let counters = &shared.messaging.counters;
    let from = link.peer.clone();
    let shutdown = shared.shutdown.clone();
    let mut frames = Vec::with_capacity(READ_BATCH);
    let mut inbox = Inbox::default();
    let mut open = true;
    while open {
        frames.clear();
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = link.next_batch(&mut frames, READ_BATCH) => next,
        };
        match next {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                bump(&counters.read_errors);
                tracing::info!(peer = %from.name, %err, "link closed on a read error");
                break;
            }
        }
        let at_ms = unix_ms();
        let mut received = 0;
        for frame in frames.drain(..) {
            match frame {
                Frame::Publish(publish) => {
                    received += 1;
                    let route = inbox.route(&shared, &publish.topic);
                    if let Route::Unwanted = route {
                        continue;
                    }
                    let event = MessageEvent {
                        from: from.node_id,
                        from_name: from.name.clone(),
                        topic: Some(publish.topic),
                        payload: publish.payload,
                        at_ms,
                    };
                    match route {
                        Route::Streams => inbox.push(Delivery::Message(event)),
                        _ => shared.emit(NodeEvent::Message(event)),
                    }
                }
                Frame::Direct { payload } => {
                    bump(&counters.direct_received);
                    let event = MessageEvent {
                        from: from.node_id,
                        from_name: from.name.clone(),
                        topic: None,
                        payload,
                        at_ms,
                    };
                    deliver_direct(&shared, event);
                }
                Frame::Question(question) => crate::answering::answer(
                    &shared,
                    &link.sender,
                    question,
                    from.node_id,
                    from.name.clone(),
                ),
                Frame::Answer(answer) => {
                    if !shared
                        .messaging
                        .asking
                        .answer(answer.id, from.node_id, answer.body)
                    {
                        bump(&counters.answers_discarded);
                        tracing::debug!(peer = %from.name, id = answer.id, "late or unknown answer discarded");
                    }
                }
                Frame::Relay { peer, frame } => {
                    crate::relaying::on_relay(&shared, &link.sender, &from, peer, frame)
                }
                Frame::Missed { topic, count } => {
                    counters.missed.fetch_add(count, Ordering::Relaxed);
                    tracing::debug!(peer = %from.name, %topic, count, "peer dropped messages for us");
                    let gap = Delivery::Missed {
                        from: from.name.clone(),
                        topic: topic.clone(),
                        count,
                    };
                    if let Route::Streams = inbox.route(&shared, &topic) {
                        inbox.push(gap);
                    }
                    shared.emit(NodeEvent::Missed {
                        from: from.name.clone(),
                        topic,
                        count,
                    });
                }
                Frame::Refused { reason } => {
                    bump(&counters.refusals_received);
                    tracing::warn!(peer = %from.name, ?reason, "the peer refused us");
                    shared.emit(NodeEvent::Refused {
                        from: from.name.clone(),
                        reason,
                    });
                }
                Frame::Ping { nonce } => {
                    let _ = link.sender.try_send(Frame::Pong { nonce });
                }
                Frame::Bye => {
                    open = false;
                    break;
                }
                Frame::Subscribe { topics } => on_link_patterns(&shared, &from, topics, true),
                Frame::Unsubscribe { topics } => on_link_patterns(&shared, &from, topics, false),
                Frame::Pong { .. } => {}
                frame @ (Frame::Hello(_) | Frame::Error { .. }) => {
                    bump(&counters.unexpected_frames);
                    tracing::info!(peer = %from.name, frame = ?std::mem::discriminant(&frame), "unexpected frame on an open link; ignored");
                }
            }
        }
        if received > 0 {
            counters.received.fetch_add(received, Ordering::Relaxed);
        }
        // Waiting here is the backpressure: this link stops reading until its readers catch up.
        inbox.flush(&shared, true).await;
    }
    link.sender.close();
}
