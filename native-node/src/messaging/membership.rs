//! Messaging follows the LAN: a peer's beacon (joined, changed) and its link's `Subscribe`/`Unsubscribe`
//! frames change who subscribes to what ([`Routes`](super::routes::Routes)); a peer that left or was lost
//! loses its link, its subscriptions and the questions waiting on it. Refusals under the subscriber bound are
//! counted, logged and told to the refused peer; re-admissions are logged.

use std::sync::Arc;

use herald_core::frame::{Frame, RefuseReason};
use herald_core::NodeId;

use super::dial::sender_for;
use super::routes::{RouteChange, MAX_LINK_PATTERNS};
use crate::discovery::peers::{PeerChange, PeerEvent};
use crate::link::LinkPeer;
use crate::shared::Shared;
use crate::stats::bump;
use crate::topics::TopicPattern;

/// Keeps messaging in step with a change to the peer table.
pub(crate) fn on_peer_event(shared: &Arc<Shared>, event: &PeerEvent) {
    let messaging = &shared.messaging;
    let node = event.peer.node_id;
    match event.change {
        PeerChange::Left | PeerChange::Lost => {
            close_link(shared, event, "departed");
            shared.awaiting.node_gone(node, None);
            let change = messaging.update_routes(|routes| routes.gone(&node));
            report(shared, change);
        }
        PeerChange::Joined | PeerChange::Changed { .. } => {
            // It moved: the link to its old address is dead (the address is gone); the next frame redials.
            if matches!(event.change, PeerChange::Changed { old_addr: Some(old) } if old != event.peer.addr)
            {
                close_link(shared, event, "moved");
            }
            let change = messaging.update_routes(|routes| routes.beacon(node, &event.peer.topics));
            report(shared, change);
            // Its beacon could not hold every pattern: open the link now, the rest comes over it.
            let target = {
                let table = shared.table();
                table.target(&node).filter(|_| table.more_topics(&node))
            };
            if let Some(target) = target {
                sender_for(shared, &target);
            }
        }
    }
}

/// Closes the link to the peer of `event` (it left, was lost, or moved), counting what was still queued.
fn close_link(shared: &Arc<Shared>, event: &PeerEvent, why: &str) {
    let messaging = &shared.messaging;
    if let Some(closed) = messaging.links.forget(&event.peer.node_id) {
        if closed.queued > 0 {
            let discarded = &messaging.counters.discarded_on_close;
            discarded.fetch_add(closed.queued, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(peer = %event.peer.name, queued = closed.queued, why, "link to a peer closed with frames still queued; discarded");
        }
    }
}

/// A peer's `Subscribe` (`add`) or `Unsubscribe` over a link: its routes become its beacon's patterns
/// together with every pattern it announced over links. Ignored for a peer messaging does not know.
pub(crate) fn on_link_patterns(
    shared: &Arc<Shared>,
    from: &LinkPeer,
    topics: &[String],
    add: bool,
) {
    let change = shared
        .messaging
        .update_routes(|routes| routes.linked(from.node_id, topics, add));
    if !change.invalid.is_empty() {
        tracing::debug!(peer = %from.name, invalid = ?change.invalid, "not valid patterns; ignored");
    }
    if change.over_cap > 0 {
        tracing::warn!(peer = %from.name, max = MAX_LINK_PATTERNS, ignored = change.over_cap, "too many patterns announced over links; ignored");
    }
    report(shared, change);
}

/// Counts, logs and tells what a change to the routes refused, and logs what it admitted.
fn report(shared: &Arc<Shared>, change: RouteChange) {
    for refused in change.refused {
        refuse_subscriber(shared, refused.node, &refused.pattern, refused.limit);
    }
    for admitted in change.admitted {
        tracing::info!(peer = %admitted.node, pattern = %admitted.pattern, "a refused subscriber is admitted: the pattern has room again");
    }
}

/// Tells a subscriber it is beyond the bound on `pattern` (it sees a `Refused` event), and counts it.
fn refuse_subscriber(shared: &Arc<Shared>, node: NodeId, pattern: &TopicPattern, limit: u32) {
    bump(&shared.messaging.counters.subscribers_refused);
    let target = shared.table().target(&node);
    let name = target
        .as_ref()
        .map_or_else(|| node.short(), |t| t.name.clone());
    tracing::info!(peer = %name, %pattern, limit, "subscriber refused: the pattern has its maximum of subscribers");
    if let Some(sender) = target.and_then(|t| sender_for(shared, &t)) {
        let _ = sender.try_send(Frame::Refused {
            reason: RefuseReason::SubscriberLimit {
                topic: pattern.to_string(),
                limit,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::mpsc;
    use std::time::Duration;

    use herald_core::bridge::{PeerInfo, PeerState};
    use herald_core::{NodeId, PeerKind};

    use super::*;
    use crate::config::NodeConfig;
    use crate::node::Node;

    fn peer(id: u8, topics: &[&str]) -> PeerInfo {
        PeerInfo {
            node_id: NodeId::from_bytes([id; 16]),
            name: format!("peer-{id}"),
            kind: PeerKind::Herald,
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp: None,
            services: Default::default(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            state: PeerState::Live,
        }
    }

    fn event(change: PeerChange, peer: PeerInfo) -> PeerEvent {
        PeerEvent {
            change,
            peer,
            at_ms: 0,
        }
    }

    /// A link reader changing a peer's subscriptions and the beacon task re-admitting refused subscribers
    /// run at the same time under a subscriber bound: neither may wait on the other for good.
    #[test]
    fn link_subscriptions_and_peer_events_never_deadlock_under_a_subscriber_bound() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = NodeConfig::loopback("lock-order", 47311);
        config.subscriber_limit = Some(1);
        config.claim_wait = Duration::ZERO;
        let node = runtime.block_on(Node::start(config)).unwrap();
        let shared = node.shared();
        // The link reader's side: a peer that joined announcing and withdrawing a pattern over its link.
        let linked = peer(1, &[]);
        on_peer_event(&shared, &event(PeerChange::Joined, linked.clone()));
        let from = LinkPeer {
            node_id: linked.node_id,
            name: linked.name.clone(),
            kind: PeerKind::Herald,
            software: String::new(),
        };
        // Several threads on each side, so the two sides really overlap even on a busy machine.
        const THREADS: usize = 4;
        const ROUNDS: u32 = 50_000;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let mut threads = Vec::new();
        for _ in 0..THREADS {
            let (reader, from, done) = (shared.clone(), from.clone(), done_tx.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    on_link_patterns(&reader, &from, &["t".into()], i % 2 == 0);
                }
                let _ = done.send(());
            }));
            // The beacon task's side: peers beyond the bound joining, changing and leaving (each re-admits).
            let (beacons, done) = (shared.clone(), done_tx.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let other = peer(2 + (i % 5) as u8, &["t"]);
                    let change = match i % 4 {
                        0 => PeerChange::Joined,
                        1 | 2 => PeerChange::Changed { old_addr: None },
                        _ => PeerChange::Left,
                    };
                    on_peer_event(&beacons, &event(change, other));
                }
                let _ = done.send(());
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for _ in 0..threads.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                // Deadlocked threads hold the locks for good: the node and its runtime cannot be dropped.
                std::mem::forget(node);
                std::mem::forget(runtime);
                panic!("link readers and the beacon task deadlocked on messaging's locks");
            }
        }
        for thread in threads {
            thread.join().unwrap();
        }
        runtime.block_on(node.shutdown());
    }
}
