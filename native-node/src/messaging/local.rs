//! This node's own subscriptions ([`LocalTopics`]), and the links other nodes opened to it (the inbound
//! links), which are told every change: both behind one lock, so a change and the whole list sent to a newly
//! accepted link never cross (the link gets the list, then every later change, in order).
//!
//! Each accepted link is registered once its handshake names the peer and removed when it closes, with a
//! counter of the frames read from it that its reader bumps once per batch (an atomic, no lock per frame):
//! the inbound half of the links pushed in the bridge's stats ([`LocalTopics::inbound_links`]).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herald_core::bridge::{LinkDirection, LinkInfo};
use herald_core::frame::Frame;
use herald_core::NodeId;

use crate::link::{LinkPeer, LinkSender};
use crate::topics::TopicPattern;

/// Patterns per `Subscribe` frame when a node sends its whole list (255-byte patterns keep it under 64 KiB).
pub const PATTERNS_PER_FRAME: usize = 256;

/// This node's subscriptions and the accepted links that hear of their changes.
#[derive(Default)]
pub(crate) struct LocalTopics {
    /// Held for a lookup or a change and its frames' queueing (never waiting); never across an `.await`.
    inner: Mutex<Local>,
    /// Changes with every change of the subscriptions (bumped under the lock), so a publisher can cache
    /// whether it wants a topic.
    generation: AtomicU64,
}

#[derive(Default)]
struct Local {
    patterns: BTreeSet<TopicPattern>,
    /// Links other nodes opened to this one (removed when they close; closed ones are pruned at each change
    /// too).
    accepted: Vec<Accepted>,
}

/// A link another node opened to this one.
struct Accepted {
    peer: NodeId,
    sender: LinkSender,
    /// Frames read from it, bumped by its reader once per batch.
    received: Arc<AtomicU64>,
}

impl LocalTopics {
    fn lock(&self) -> MutexGuard<'_, Local> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscription and tells every accepted link; true if it is new.
    pub fn subscribe(&self, pattern: TopicPattern) -> bool {
        let mut local = self.lock();
        let frame = Frame::Subscribe {
            topics: vec![pattern.to_string()],
        };
        let new = local.patterns.insert(pattern);
        if new {
            self.generation.fetch_add(1, Ordering::Release);
            local.tell_accepted(frame);
        }
        new
    }

    /// Removes a subscription and tells every accepted link; true if it was there.
    pub fn unsubscribe(&self, pattern: &TopicPattern) -> bool {
        let mut local = self.lock();
        let removed = local.patterns.remove(pattern);
        if removed {
            self.generation.fetch_add(1, Ordering::Release);
            local.tell_accepted(Frame::Unsubscribe {
                topics: vec![pattern.to_string()],
            });
        }
        removed
    }

    /// The subscriptions, as announced in beacons.
    pub fn patterns(&self) -> Vec<String> {
        self.lock().patterns.iter().map(|p| p.to_string()).collect()
    }

    /// Changes whenever the subscriptions change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True when a subscription matches `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        self.lock().patterns.iter().any(|p| p.matches(topic))
    }

    /// A link `peer` opened to this one: it is sent the whole list now (at least one frame, even empty, so
    /// the peer drops what an older link said) and every change from now on. Returns the link's counter of
    /// frames read, for its reader to bump; [`LocalTopics::closed`] with it removes the link.
    pub fn accepted(&self, link: &LinkSender, peer: &LinkPeer) -> Arc<AtomicU64> {
        let mut local = self.lock();
        let patterns: Vec<String> = local.patterns.iter().map(|p| p.to_string()).collect();
        let mut frames: Vec<Frame> = patterns
            .chunks(PATTERNS_PER_FRAME)
            .map(|chunk| Frame::Subscribe {
                topics: chunk.to_vec(),
            })
            .collect();
        if frames.is_empty() {
            frames.push(Frame::Subscribe { topics: Vec::new() });
        }
        for frame in frames {
            if let Err(err) = link.try_send(frame) {
                tracing::debug!(peer = %peer.name, %err, "subscription list not sent");
            }
        }
        local.accepted.retain(|l| !l.sender.is_closed());
        let received = Arc::new(AtomicU64::new(0));
        local.accepted.push(Accepted {
            peer: peer.node_id,
            sender: link.clone(),
            received: received.clone(),
        });
        received
    }

    /// The accepted link whose counter is `received` closed: it is no longer listed.
    pub fn closed(&self, received: &Arc<AtomicU64>) {
        self.lock()
            .accepted
            .retain(|l| !Arc::ptr_eq(&l.received, received));
    }

    /// The open inbound links with their traffic, for the bridge's pushed stats.
    pub fn inbound_links(&self) -> Vec<LinkInfo> {
        self.lock()
            .accepted
            .iter()
            .filter(|l| !l.sender.is_closed())
            .map(|l| LinkInfo {
                peer: l.peer,
                sent: l.sender.sent(),
                queued: l.sender.queued() as u64,
                dropped: l.sender.dropped(),
                direction: LinkDirection::Inbound,
                received: l.received.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Local {
    /// Sends a subscription change on every accepted link (closed ones are pruned).
    fn tell_accepted(&mut self, frame: Frame) {
        self.accepted.retain(|link| !link.sender.is_closed());
        for link in &self.accepted {
            if let Err(err) = link.sender.try_send(frame.clone()) {
                tracing::debug!(%err, "subscription change not sent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_core::PeerKind;

    use super::*;
    use crate::link::connection::LinkConfig;
    use crate::link::handshake::LocalIdentity;

    #[test]
    fn an_accepted_link_is_listed_inbound_with_its_frames_until_it_closes() {
        let config = LinkConfig::new(
            LocalIdentity {
                node_id: NodeId::from_bytes([1; 16]),
                name: "me".into(),
                kind: PeerKind::Herald,
            },
            None,
        );
        let peer = LinkPeer {
            node_id: NodeId::from_bytes([2; 16]),
            name: "alpha".into(),
            kind: PeerKind::Herald,
            software: "herald test".into(),
        };
        let local = LocalTopics::default();
        let (sender, _writer) = config.queue();
        let received = local.accepted(&sender, &peer);
        received.fetch_add(40, Ordering::Relaxed);
        let links = local.inbound_links();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].peer, peer.node_id);
        assert_eq!(links[0].direction, LinkDirection::Inbound);
        assert_eq!(links[0].received, 40);
        // The whole subscription list (one empty frame) went to it.
        assert_eq!(links[0].queued, 1);
        local.closed(&received);
        assert!(local.inbound_links().is_empty());
    }
}
