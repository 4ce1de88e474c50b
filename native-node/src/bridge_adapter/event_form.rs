//! The bridge's form of the node's events, built here and nowhere else: what browsers receive over the
//! WebSocket and what the CLI's `--json` prints (one [`BridgeEvent`] per line). It needs only `core`'s types,
//! so it is there with or without the `bridge` feature.

use herald_core::bridge::BridgeEvent;

use crate::asking::AskProgress;
use crate::discovery::peers::{PeerChange, PeerEvent};
use crate::events::NodeEvent;
use crate::messaging::Delivery;

/// The bridge's (and the CLI's `--json`) form of a node event.
pub fn node_event(event: &NodeEvent) -> BridgeEvent {
    match event {
        NodeEvent::Peer(event) => peer_event(event),
        NodeEvent::NameConflict(conflict) => BridgeEvent::NodeError {
            context: "discovery".into(),
            message: format!(
                "node {} at {} claims this node's name {:?}",
                conflict.claimant, conflict.addr, conflict.name
            ),
        },
        NodeEvent::Lagged { missed } => BridgeEvent::Lagged { missed: *missed },
        NodeEvent::Message(message) => BridgeEvent::Message(message.clone()),
        NodeEvent::AnswerFailed { from, reason } => BridgeEvent::NodeError {
            context: "answer".into(),
            message: format!("answering a question from {from} failed: {reason}"),
        },
        NodeEvent::Refused { from, reason } => BridgeEvent::NodeError {
            context: "messaging".into(),
            message: format!("{from} refused this node: {reason:?}"),
        },
        NodeEvent::Missed { from, topic, count } => BridgeEvent::NodeError {
            context: "messaging".into(),
            message: format!(
                "{from} dropped {count} messages on {topic} for this node (it read too slowly)"
            ),
        },
    }
}

/// The bridge's form of a change to the peer table.
pub fn peer_event(event: &PeerEvent) -> BridgeEvent {
    let (peer, at_ms) = (event.peer.clone(), event.at_ms);
    match event.change {
        PeerChange::Joined => BridgeEvent::PeerJoined { peer, at_ms },
        PeerChange::Changed { .. } => BridgeEvent::PeerChanged { peer, at_ms },
        PeerChange::Left => BridgeEvent::PeerLeft { peer, at_ms },
        PeerChange::Lost => BridgeEvent::PeerLost { peer, at_ms },
    }
}

/// The bridge's form of what a subscription stream yields (a gap reads as it does on the event stream).
pub fn delivery(delivery: Delivery) -> BridgeEvent {
    match delivery {
        Delivery::Message(message) => BridgeEvent::Message(message.into()),
        missed @ Delivery::Missed { .. } => node_event(&NodeEvent::from(missed)),
    }
}

/// The bridge's form of one step of a question's progress, asked as `question_id`.
pub fn ask_progress(question_id: u64, progress: AskProgress) -> BridgeEvent {
    match progress {
        AskProgress::Outcome { name, outcome } => BridgeEvent::Answer {
            question_id,
            peer: name,
            outcome,
        },
        AskProgress::Done(outcomes) => BridgeEvent::AskDone {
            question_id,
            outcomes,
        },
    }
}
