//! Serving a link, whichever side opened it ([`serve_link`]; both kinds arrive through the node's one
//! arrivals loop): topic messages go to the matching subscription streams (else to the event stream), direct
//! messages become node events, questions go to the answer handler, answers settle this node's questions,
//! relayed frames go to the legacy peers this node is the gateway of, subscription changes go to the routes,
//! `Ping` is answered.
//!
//! An accepted link's frames are counted once per batch on the counter its registration in `local` handed
//! out (the inbound links in the bridge's stats); the link is removed from there when it closes.
//!
//! Frames are taken in batches of at most [`READ_BATCH`]: each stream is woken once per batch, and a full
//! stream makes this reader wait, which is the backpressure on the link (the publisher's overflow policy
//! then decides: wait, or drop the oldest and send `Missed`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use herald_core::frame::{Frame, Publish, Relayed};
use herald_core::NodeId;
use smol_str::SmolStr;

use super::membership::on_link_patterns;
use super::message::Message;
use super::streams::{Delivery, Inbox, Route};
use crate::clock::unix_ms;
use crate::events::NodeEvent;
use crate::link::connection::Established;
use crate::link::{Inbound, InboundPublish, LinkPeer, LinkSender};
use crate::shared::Shared;
use crate::stats::bump;

/// Frames a link reader decodes and hands on per wake-up at most.
pub const READ_BATCH: usize = 1024;

/// Which side opened a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This node dialled it: it publishes, sends and asks over it.
    Dialled,
    /// Another node dialled it: this node's subscription list goes to it first, then every change.
    Accepted,
}

/// Serves one link until it closes.
pub(crate) async fn serve_link(shared: Arc<Shared>, link: Established, origin: Origin) {
    let node = link.peer.node_id;
    let received = match origin {
        Origin::Accepted => Some(shared.messaging.local.accepted(&link.sender, &link.peer)),
        Origin::Dialled => {
            bump(&shared.messaging.counters.links_opened);
            shared.messaging.links.dialled(&node);
            // The peer sends its whole list on this new link: what an older link said is replaced.
            shared
                .messaging
                .update_routes(|routes| routes.link_opened(&node));
            tracing::debug!(peer = %link.peer.name, addr = %link.addr, "link opened");
            None
        }
    };
    read(&shared, link, received.clone()).await;
    if let Some(received) = received {
        shared.messaging.local.closed(&received);
    }
    if origin == Origin::Dialled {
        // Questions sent over this link cannot be answered any more.
        let reason = "the link closed before an answer".to_owned();
        shared.awaiting.node_gone(node, Some(reason));
    }
}

/// Reads `link` in batches until it closes, says `Bye`, fails or the node shuts down, counting the frames
/// read on `received` when given (an accepted link).
async fn read(shared: &Arc<Shared>, mut link: Established, received: Option<Arc<AtomicU64>>) {
    let mut frames = Vec::with_capacity(READ_BATCH);
    let mut reader = LinkReader {
        shared,
        from_name: link.peer.name.as_str().into(),
        from: link.peer.clone(),
        sender: link.sender.clone(),
        inbox: Inbox::default(),
    };
    loop {
        frames.clear();
        let next = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            next = link.next_batch(&mut frames, READ_BATCH) => next,
        };
        match next {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                bump(&shared.messaging.counters.read_errors);
                tracing::info!(peer = %reader.from.name, %err, "link closed on a read error");
                break;
            }
        }
        if let Some(received) = &received {
            received.fetch_add(frames.len() as u64, Ordering::Relaxed);
        }
        if reader.batch(&mut frames).await == Flow::Bye {
            break;
        }
    }
    link.sender.close();
}

/// Whether a link goes on after a batch.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The peer said `Bye`.
    Bye,
}

/// What one link's reader keeps between batches.
struct LinkReader<'a> {
    shared: &'a Arc<Shared>,
    from: LinkPeer,
    /// The peer's name, for every message from it.
    from_name: SmolStr,
    /// Where replies (answers, pongs) go.
    sender: LinkSender,
    inbox: Inbox,
}

impl LinkReader<'_> {
    /// Handles one batch of frames, then hands the gathered deliveries to their streams, waiting for room.
    async fn batch(&mut self, frames: &mut Vec<Inbound>) -> Flow {
        let at_ms = unix_ms();
        let mut received = 0;
        let mut flow = Flow::Continue;
        for inbound in frames.drain(..) {
            let frame = match inbound {
                Inbound::Publish(publish) => {
                    received += 1;
                    self.publish(publish, at_ms);
                    continue;
                }
                Inbound::Frame(frame) => frame,
            };
            if self.frame(frame, at_ms) == Flow::Bye {
                flow = Flow::Bye;
                break;
            }
        }
        let counters = &self.shared.messaging.counters;
        if received > 0 {
            counters.received.fetch_add(received, Ordering::Relaxed);
        }
        // Waiting here is the backpressure: this link stops reading until its readers catch up.
        self.inbox.flush(true, &self.shared.shutdown).await;
        flow
    }

    /// Hands a topic message received at `at_ms` to its streams, else to the event stream, else nowhere (this
    /// node no longer subscribes).
    /// A message relayed in another peer's name (a gateway's message from another site) is delivered as that
    /// peer's.
    fn publish(&mut self, publish: InboundPublish, at_ms: u64) {
        if publish.relayed.is_some() {
            bump(&self.shared.messaging.counters.relayed);
        }
        let route = self.route(&publish.topic);
        if let Route::Unwanted = route {
            return;
        }
        let mut message = self.message(Some(publish.topic), publish.payload, at_ms);
        if let Some((peer, from_name)) = publish.relayed {
            message.from = peer;
            message.from_name = from_name;
        }
        match route {
            Route::Streams => self.inbox.push(Delivery::Message(message)),
            _ => self.shared.emit(NodeEvent::Message(message.into())),
        }
    }

    /// Handles one frame received at `at_ms`.
    fn frame(&mut self, frame: Frame, at_ms: u64) -> Flow {
        let shared = self.shared;
        let counters = &shared.messaging.counters;
        let from = &self.from;
        match frame {
            Frame::Publish(publish) => {
                self.owned_publish(None, publish, at_ms);
            }
            Frame::Direct { payload } => {
                bump(&counters.direct_received);
                let message = self.message(None, payload.0.into(), at_ms);
                shared.emit(NodeEvent::Message(message.into()));
            }
            Frame::Question(question) => crate::answering::answer(
                shared,
                &self.sender,
                question,
                from.node_id,
                from.name.clone(),
            ),
            Frame::Answer(answer) => {
                if !shared.awaiting.answer(answer.id, from.node_id, answer.body) {
                    bump(&counters.answers_discarded);
                    tracing::debug!(peer = %from.name, id = answer.id, "late or unknown answer discarded");
                }
            }
            Frame::Relay {
                peer,
                frame: Relayed::Publish { from_name, publish },
            } => self.owned_publish(Some((peer, from_name.into())), publish, at_ms),
            Frame::Relay { peer, frame } => {
                crate::relaying::on_relay(shared, &self.sender, from, peer, frame)
            }
            Frame::Missed { topic, count } => self.missed(topic, count),
            Frame::Refused { reason } => {
                bump(&counters.refusals_received);
                tracing::warn!(peer = %from.name, ?reason, "the peer refused us");
                let from = from.name.clone();
                shared.emit(NodeEvent::Refused { from, reason });
            }
            Frame::Ping { nonce } => {
                let _ = self.sender.try_send(Frame::Pong { nonce });
            }
            Frame::Bye => return Flow::Bye,
            Frame::Subscribe { topics } => on_link_patterns(shared, from, &topics, true),
            Frame::Unsubscribe { topics } => on_link_patterns(shared, from, &topics, false),
            Frame::Pong { .. } => {}
            frame @ (Frame::Hello(_) | Frame::Error { .. }) => {
                bump(&counters.unexpected_frames);
                tracing::info!(peer = %from.name, frame = ?std::mem::discriminant(&frame), "unexpected frame on an open link; ignored");
            }
        }
        Flow::Continue
    }

    /// The link's reader reads topic messages (relayed ones too) in place; an owned one is handled the same way.
    fn owned_publish(&mut self, relayed: Option<(NodeId, SmolStr)>, publish: Publish, at_ms: u64) {
        let publish = InboundPublish {
            topic: publish.topic.into(),
            seq: publish.seq,
            payload: publish.payload.0.into(),
            relayed,
        };
        self.publish(publish, at_ms);
    }

    fn route(&mut self, topic: &str) -> Route {
        let messaging = &self.shared.messaging;
        self.inbox
            .route(&messaging.local, &messaging.streams, topic)
    }

    fn message(&self, topic: Option<SmolStr>, payload: Bytes, at_ms: u64) -> Message {
        Message {
            from: self.from.node_id,
            from_name: self.from_name.clone(),
            topic,
            payload,
            at_ms,
        }
    }

    /// The peer dropped `count` messages on `topic` for this node: the gap goes into the streams, exactly
    /// where it is, and onto the event stream.
    fn missed(&mut self, topic: String, count: u64) {
        let shared = self.shared;
        shared
            .messaging
            .counters
            .missed
            .fetch_add(count, Ordering::Relaxed);
        let from = self.from.name.clone();
        tracing::debug!(peer = %from, %topic, count, "peer dropped messages for us");
        if let Route::Streams = self.route(&topic) {
            let gap = Delivery::Missed {
                from: from.clone(),
                topic: topic.clone(),
                count,
            };
            self.inbox.push(gap);
        }
        shared.emit(NodeEvent::Missed { from, topic, count });
    }
}
