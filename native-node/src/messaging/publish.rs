//! Publishing: a message on a topic goes to this node's own subscribers (their streams, else the event
//! stream) and to every peer whose patterns match, over the link this node opened to it. The message is
//! encoded once and the same bytes are queued on every link; nothing waits for a connection (a link not yet
//! open is dialled in the background and the copy queued on it), and only a full queue under the `Block`
//! policy makes the publisher wait. A site gateway publishes messages from other sites the same way, in their
//! senders' names (`Relay` frames).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use herald_core::frame::RelayedFrom;
use herald_core::NodeId;

use super::dial::link_to;
use super::fanout::Generations;
use super::message::Message;
use super::streams::{Delivery, Inbox, Route};
use crate::clock::unix_ms;
use crate::events::NodeEvent;
use crate::link::LinkSender;
use crate::queue::{EncodedPublish, OverflowPolicy};
use crate::shared::Shared;
use crate::stats::bump;
use crate::topics::{validate_topic, TopicError};

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

/// Copies of one message on their way to remote subscribers.
#[derive(Default)]
struct Copies {
    /// The encoded message, when a subscriber has no open link yet.
    encoded: Option<EncodedPublish>,
    /// Subscribers with no open link yet.
    unlinked: Vec<NodeId>,
    /// Links whose queue was full under `Block`: waited on after the lock is released.
    full: Vec<(LinkSender, EncodedPublish)>,
    queued: u64,
    not_queued: u64,
    /// This node subscribes to the topic itself.
    here: bool,
}

/// Publishes on `topic`; returns how many subscribers (this node counts as one) it was queued for.
pub(crate) async fn publish(
    shared: &Arc<Shared>,
    topic: &str,
    payload: &[u8],
) -> Result<usize, PublishError> {
    publish_as(shared, None, topic, payload).await
}

/// Publishes on `topic`, in this node's name or (`from`) in the name of a peer it relays for; returns how many
/// subscribers it was queued for. A relayed message is not delivered to this node's own subscriptions.
async fn publish_as(
    shared: &Arc<Shared>,
    from: Option<RelayedFrom<'_>>,
    topic: &str,
    payload: &[u8],
) -> Result<usize, PublishError> {
    validate_topic(topic)?;
    let messaging = &shared.messaging;
    bump(&messaging.counters.published);
    let mut copies = Copies::default();
    queue_on_open_links(shared, from, topic, payload, &mut copies)?;
    let mut reached = 0;
    if copies.here && from.is_none() {
        deliver_here(shared, topic, payload).await;
        reached += 1;
    }
    if let Some(encoded) = &copies.encoded {
        for node in std::mem::take(&mut copies.unlinked) {
            match link_to(shared, &node) {
                Some(sender) => copies.full.push((sender, encoded.clone())),
                None => copies.not_queued += 1,
            }
        }
    }
    for (sender, publish) in std::mem::take(&mut copies.full) {
        match sender.send_publish(publish).await {
            Ok(()) => copies.queued += 1,
            Err(err) => {
                copies.not_queued += 1;
                tracing::debug!(%err, "message not queued");
            }
        }
    }
    if copies.queued > 0 {
        let queued = &messaging.counters.queued;
        queued.fetch_add(copies.queued, Ordering::Relaxed);
    }
    if copies.not_queued > 0 {
        let not_queued = &messaging.counters.not_queued;
        not_queued.fetch_add(copies.not_queued, Ordering::Relaxed);
    }
    Ok(reached + copies.queued as usize)
}

/// Encodes the message once and queues it on every open link to a subscriber, without waiting: links to
/// open, and links whose queue is full under `Block`, are left to the caller (in `copies`), and so is the
/// delivery here.
fn queue_on_open_links(
    shared: &Shared,
    from: Option<RelayedFrom<'_>>,
    topic: &str,
    payload: &[u8],
    copies: &mut Copies,
) -> Result<(), PublishError> {
    let messaging = &shared.messaging;
    let mut fanout = messaging.fanout();
    let seq = fanout.next_seq();
    let generations = Generations {
        routes: messaging.routes_generation(),
        links: messaging.links.generation(),
        local: messaging.local.generation(),
    };
    if !fanout.is_current(topic, generations) {
        let subscribers = messaging.subscribers(topic);
        let here = messaging.local.wants(topic);
        fanout.refill(topic, generations, here, |targets| {
            messaging
                .links
                .links_of(&subscribers, |node, link| targets.push((node, link)));
        });
    }
    copies.here = fanout.here();
    if fanout.targets().is_empty() {
        return Ok(());
    }
    let max_frame = messaging.links.config().max_frame;
    let fanout = &mut *fanout;
    fanout
        .encoded
        .encode_as_in_place(from, topic, seq, payload, max_frame, &mut fanout.scratch)
        .map_err(|err| PublishError::TooLarge(err.to_string()))?;
    let publish = &fanout.encoded;
    for (node, sender) in fanout.targets() {
        let Some(sender) = sender.as_ref().filter(|s| !s.is_closed()) else {
            copies.unlinked.push(*node);
            continue;
        };
        match sender.try_publish(publish) {
            Ok(None) => copies.queued += 1,
            Ok(Some(back)) => copies.full.push((sender.clone(), back)),
            Err(err) => {
                copies.not_queued += 1;
                tracing::debug!(peer = %node, %err, "message not queued");
            }
        }
    }
    if !copies.unlinked.is_empty() {
        copies.encoded = Some(publish.clone());
    }
    Ok(())
}

/// Delivers a message this node published to its own subscribers: their streams (waiting for room under
/// `Block`, else dropping and counting what does not fit), else the event stream.
async fn deliver_here(shared: &Shared, topic: &str, payload: &[u8]) {
    let messaging = &shared.messaging;
    let message = Message {
        from: shared.node_id,
        from_name: shared.config.name.as_str().into(),
        topic: Some(topic.into()),
        payload: Bytes::copy_from_slice(payload),
        at_ms: unix_ms(),
    };
    let wait = shared.config.overflow == OverflowPolicy::Block;
    let mut inbox = Inbox::default();
    match inbox.route(&messaging.local, &messaging.streams, topic) {
        Route::Streams => {
            inbox.push(Delivery::Message(message));
            let lost = inbox.flush(wait, &shared.shutdown).await;
            if lost > 0 {
                let dropped = &messaging.counters.local_dropped;
                dropped.fetch_add(lost, Ordering::Relaxed);
                tracing::debug!(%topic, "local subscription full: message dropped");
            }
        }
        Route::NoStream | Route::Unwanted => shared.emit(NodeEvent::Message(message.into())),
    }
}

/// Publishes on `topic` in the name of `from` (a peer at another site this node is the NATS gateway of):
/// like [`publish`] (encoded once, in this node's sequence, the same bytes queued on every subscriber's link)
/// but as a `Relay` frame naming `from`, which each subscriber shows as from `from_name`. Not delivered to this
/// node's own subscriptions (a gateway's own subscriptions are for other sites, which got the message through
/// NATS already). Returns how many peers it was queued for.
#[cfg(feature = "sites")]
pub(crate) async fn publish_relayed(
    shared: &Arc<Shared>,
    from: NodeId,
    from_name: &str,
    topic: &str,
    payload: &[u8],
) -> Result<usize, PublishError> {
    let from = RelayedFrom {
        peer: from,
        from_name,
    };
    publish_as(shared, Some(from), topic, payload).await
}
