//! Messaging over links: this node's topic subscriptions, the outbound links it publishes over (opened on
//! demand, never making `publish` wait for a connection), and the reader task of every link.
//!
//! Each node publishes over links it opens itself and receives over links others open to it, so a pair of
//! nodes that both publish has two links, one per direction: order per publisher–subscriber pair is the
//! order of one TCP stream. A link to a peer that left or was lost is closed. A peer that cannot be reached is
//! retried after [`RECONNECT_BACKOFF`]; copies meanwhile are counted as not queued.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_core::bridge::MessageEvent;
use herald_core::frame::{Frame, Publish};
use herald_core::{NodeId, Payload};

use crate::clock::unix_ms;
use crate::discovery::peers::LinkTarget;
use crate::link::connection::{connect_queued, Established, LinkConfig};
use crate::link::LinkSender;
use crate::node::{NodeEvent, Shared};
use crate::queue::OverflowPolicy;
use crate::stats::{bump, MessagingCounters};
use crate::topics::{validate_topic, TopicError, TopicPattern};
use tokio::sync::mpsc;

/// Messages a [`Subscription`] holds for a reader that is behind; when full, the link reader waits (and with it
/// the TCP link, so the publisher's overflow policy decides: wait, or drop the oldest and send `Missed`).
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// How long after a failed connection a peer is left alone.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// Why a publish failed as a whole (per-subscriber trouble is counted, not returned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The topic is not a valid topic name.
    #[error(transparent)]
    Topic(#[from] TopicError),
}

/// Messaging state of one node.
pub(crate) struct MessagingState {
    pub link_config: Arc<LinkConfig>,
    pub counters: MessagingCounters,
    /// Held briefly, never across an `.await`.
    links: Mutex<HashMap<NodeId, LinkSender>>,
    failures: Mutex<HashMap<NodeId, Instant>>,
    subscriptions: Mutex<BTreeSet<TopicPattern>>,
    /// Readers' streams, each with its pattern; closed ones are pruned.
    streams: Mutex<Vec<(TopicPattern, mpsc::Sender<MessageEvent>)>>,
    seq: AtomicU64,
}

/// A stream of the messages on one pattern, lossless: a reader that falls behind slows its own links (see
/// [`SUBSCRIPTION_CAPACITY`]) rather than losing messages here.
pub struct Subscription {
    rx: mpsc::Receiver<MessageEvent>,
}

impl Subscription {
    /// The next message; `None` once the node has shut down.
    pub async fn next(&mut self) -> Option<MessageEvent> {
        self.rx.recv().await
    }
}

impl MessagingState {
    pub fn new(link_config: LinkConfig) -> Self {
        MessagingState {
            link_config: Arc::new(link_config),
            counters: MessagingCounters::default(),
            links: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(BTreeSet::new()),
            streams: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
        }
    }

    /// Adds a local subscription; true if it is new.
    pub fn subscribe(&self, pattern: TopicPattern) -> bool {
        lock(&self.subscriptions).insert(pattern)
    }

    /// A new stream of the messages matching `pattern` (the pattern must also be subscribed).
    pub fn stream(&self, pattern: TopicPattern) -> Subscription {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let mut streams = lock(&self.streams);
        streams.retain(|(_, s)| !s.is_closed());
        streams.push((pattern, tx));
        Subscription { rx }
    }

    /// Closes every subscription stream (shutdown).
    pub fn close_streams(&self) {
        lock(&self.streams).clear();
    }

    /// Removes a local subscription; true if it was there.
    pub fn unsubscribe(&self, pattern: &TopicPattern) -> bool {
        lock(&self.subscriptions).remove(pattern)
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

    /// Closes the link to a peer that left or was lost.
    pub fn forget(&self, node: &NodeId) {
        if let Some(sender) = lock(&self.links).remove(node) {
            sender.close();
        }
        lock(&self.failures).remove(node);
    }

    /// Closes every link (shutdown).
    pub fn close_all(&self) {
        for (_, sender) in lock(&self.links).drain() {
            let _ = sender.try_send(Frame::Bye);
            sender.close();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Publishes on `topic`: to local subscribers (as a node event) and to every live peer whose announced
/// topics match, over its link. Returns how many subscribers (local counts as one) it was queued for.
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
    if messaging.wants(topic) {
        let event = MessageEvent {
            from: shared.node_id,
            from_name: shared.config.name.clone(),
            topic: Some(topic.to_owned()),
            payload: payload.clone(),
            at_ms: unix_ms(),
        };
        // Local readers get the publisher's policy: wait for room with Block, else drop (counted).
        deliver(
            shared,
            event,
            shared.config.overflow == OverflowPolicy::Block,
        )
        .await;
        reached += 1;
    }
    let subscribers = shared.table().subscribers(topic);
    for peer in subscribers {
        let Some(sender) = sender_for(shared, &peer) else {
            bump(&messaging.counters.not_queued);
            continue;
        };
        let frame = Frame::Publish(Publish {
            topic: topic.to_owned(),
            seq,
            payload: payload.clone(),
        });
        match sender.send(frame).await {
            Ok(()) => {
                bump(&messaging.counters.queued);
                reached += 1;
            }
            Err(err) => {
                bump(&messaging.counters.not_queued);
                tracing::debug!(peer = %peer.name, %err, "message not queued");
            }
        }
    }
    Ok(reached)
}

/// The link to `peer`, opening one (in the background) if there is none.
fn sender_for(shared: &Arc<Shared>, peer: &LinkTarget) -> Option<LinkSender> {
    let messaging = &shared.messaging;
    let mut links = lock(&messaging.links);
    if let Some(sender) = links.get(&peer.node_id).filter(|s| !s.is_closed()) {
        return Some(sender.clone());
    }
    if lock(&messaging.failures)
        .get(&peer.node_id)
        .is_some_and(|at| at.elapsed() < RECONNECT_BACKOFF)
    {
        tracing::debug!(peer = %peer.name, "peer unreachable a moment ago; message not queued");
        return None;
    }
    let addr = peer.tcp;
    let (sender, writer) = messaging.link_config.queue();
    links.insert(peer.node_id, sender.clone());
    drop(links);
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
                tracing::debug!(peer = %name, %addr, "link opened");
                serve(shared, link).await;
            }
            Err(err) => {
                bump(&shared.messaging.counters.links_failed);
                tracing::info!(peer = %name, %addr, %err, "cannot open a link");
                queued.close();
                lock(&shared.messaging.failures).insert(node_id, Instant::now());
            }
        }
    });
    Some(sender)
}

/// Hands a message to this node: to every matching subscription stream (waiting for room when `wait`, else
/// dropping and counting), then to the event stream for observers (bounded; a lagging observer is told).
async fn deliver(shared: &Shared, event: MessageEvent, wait: bool) {
    let topic = event.topic.clone().unwrap_or_default();
    let streams: Vec<mpsc::Sender<MessageEvent>> = lock(&shared.messaging.streams)
        .iter()
        .filter(|(pattern, stream)| pattern.matches(&topic) && !stream.is_closed())
        .map(|(_, stream)| stream.clone())
        .collect();
    for stream in streams {
        if wait {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = stream.send(event.clone()) => {}
            }
        } else if let Err(mpsc::error::TrySendError::Full(_)) = stream.try_send(event.clone()) {
            bump(&shared.messaging.counters.local_dropped);
            tracing::debug!(%topic, "local subscription full: message dropped");
        }
    }
    shared.emit(NodeEvent::Message(event));
}

/// Reads one link until it closes: topic messages become node events; `Ping` is answered.
pub(crate) async fn serve(shared: Arc<Shared>, mut link: Established) {
    let counters = &shared.messaging.counters;
    let from = link.peer.clone();
    let shutdown = shared.shutdown.clone();
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = link.next() => next,
        };
        match next {
            Ok(Some(Frame::Publish(publish))) => {
                bump(&counters.received);
                if shared.messaging.wants(&publish.topic) {
                    let event = MessageEvent {
                        from: from.node_id,
                        from_name: from.name.clone(),
                        topic: Some(publish.topic),
                        payload: publish.payload,
                        at_ms: unix_ms(),
                    };
                    // Waiting here is the backpressure: this link stops reading until readers catch up.
                    deliver(&shared, event, true).await;
                }
            }
            Ok(Some(Frame::Missed { topic, count })) => {
                counters.missed.fetch_add(count, Ordering::Relaxed);
                tracing::debug!(peer = %from.name, %topic, count, "peer dropped messages for us");
                shared.emit(NodeEvent::Missed {
                    from: from.name.clone(),
                    topic,
                    count,
                });
            }
            Ok(Some(Frame::Ping { nonce })) => {
                let _ = link.sender.try_send(Frame::Pong { nonce });
            }
            Ok(Some(Frame::Bye)) | Ok(None) => break,
            Ok(Some(other)) => {
                tracing::debug!(peer = %from.name, frame = ?std::mem::discriminant(&other), "frame not handled yet")
            }
            Err(err) => {
                bump(&counters.read_errors);
                tracing::info!(peer = %from.name, %err, "link closed on a read error");
                break;
            }
        }
    }
    link.sender.close();
}
