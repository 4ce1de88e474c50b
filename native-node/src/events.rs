//! [`NodeEvent`]: what a node tells its users happened (peers, messages, gaps, refusals, failed answers,
//! name conflicts, lag). The node's handle hands them out as a bounded stream (`Node::events`).

use std::net::SocketAddr;

use herald_core::bridge::MessageEvent;
use herald_core::frame::RefuseReason;
use herald_core::NodeId;

use crate::discovery::peers::PeerEvent;
use crate::messaging::Delivery;

/// Something that happened on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A peer joined, changed, left or was lost.
    Peer(PeerEvent),
    /// Another node claims this node's name.
    NameConflict(NameConflict),
    /// A message on a topic this node subscribes to (from a peer, or published here).
    Message(MessageEvent),
    /// A peer dropped `count` messages on `topic` for this node because this node read too slowly.
    Missed {
        /// The peer's name.
        from: String,
        /// The topic.
        topic: String,
        /// Messages dropped.
        count: u64,
    },
    /// A question from `from` was not answered well: the handler failed, panicked or ran past the timeout
    /// (the asker got a `Failed` answer, or nothing after its timeout). The seed's error callback.
    AnswerFailed {
        /// The asker's name.
        from: String,
        /// What went wrong.
        reason: String,
    },
    /// A peer refused this node something (e.g. a publisher's subscriber bound is reached).
    Refused {
        /// The peer's name.
        from: String,
        /// Why.
        reason: RefuseReason,
    },
    /// This reader of the event stream fell behind and missed `missed` events (counted in
    /// `node.events_lagged`); the peer table itself is intact: re-read it with [`Node::peers`].
    Lagged {
        /// Events missed.
        missed: u64,
    },
}

impl From<Delivery> for NodeEvent {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Message(message) => NodeEvent::Message(message.into()),
            Delivery::Missed { from, topic, count } => NodeEvent::Missed { from, topic, count },
        }
    }
}

/// Another node claiming this node's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameConflict {
    /// The name.
    pub name: String,
    /// The other node's id.
    pub claimant: NodeId,
    /// Where its beacon came from.
    pub addr: SocketAddr,
}
