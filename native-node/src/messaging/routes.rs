//! Who on the LAN subscribes to what, sans-IO: [`Routes`] owns, as one value behind one lock, every peer's
//! patterns (from its beacon and from its link), the subscriber sets they make (with the optional bound per
//! pattern) and the patterns the bound refused. Keeping the three together is what makes a lock-order hazard
//! between them impossible: a link reader announcing patterns and the beacon task re-admitting refused
//! subscribers take the same single lock.
//!
//! It answers "who gets a message on this topic?" ([`Routes::subscribers`]) and reports, for each change,
//! which patterns were newly refused (the caller counts them and tells the peer) and which refused ones were
//! admitted after all (the caller logs them). Nothing here touches a socket, a clock or a task.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use herald_core::NodeId;

use crate::topics::{SubscribeError, Subscriptions, TopicPattern};

/// Patterns a peer may announce over links beyond its beacon; more are ignored (and reported).
pub const MAX_LINK_PATTERNS: usize = 4096;

/// A pattern the subscriber bound refused a peer (newly: a refusal is reported once, not at every beacon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The peer.
    pub node: NodeId,
    /// The pattern.
    pub pattern: TopicPattern,
    /// The bound it hit.
    pub limit: u32,
}

/// A refused pattern admitted after all, because a subscriber went away or dropped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The peer.
    pub node: NodeId,
    /// The pattern.
    pub pattern: TopicPattern,
}

/// What one change to the routes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteChange {
    /// Patterns newly refused by the bound.
    pub refused: Vec<Refused>,
    /// Refused patterns admitted after all.
    pub admitted: Vec<Admitted>,
    /// Announced patterns that were not valid patterns (ignored).
    pub invalid: Vec<String>,
    /// Patterns ignored because the peer already announced [`MAX_LINK_PATTERNS`] over links.
    pub over_cap: usize,
}

/// One peer's patterns.
#[derive(Debug, Default)]
struct PeerPatterns {
    /// From its latest beacon.
    beacon: BTreeSet<TopicPattern>,
    /// Announced over links (`Subscribe`/`Unsubscribe` frames), beyond what the beacon holds.
    linked: BTreeSet<TopicPattern>,
    /// Wanted but refused by the bound; retried when a pattern has room again.
    refused: BTreeSet<TopicPattern>,
}

/// Every peer's subscriptions and the subscriber sets they make. See the module doc.
#[derive(Debug)]
pub struct Routes {
    subscribers: Subscriptions<NodeId>,
    peers: HashMap<NodeId, PeerPatterns>,
    /// Bumped at every change, so a cache of [`Routes::subscribers`] knows when to look again.
    generation: u64,
}

impl Routes {
    /// No routes yet; at most `limit` subscribers per pattern when given.
    pub fn new(limit: Option<u32>) -> Self {
        Routes {
            subscribers: Subscriptions::new(limit),
            peers: HashMap::new(),
            generation: 0,
        }
    }

    /// Changes with every change to who subscribes to what.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True when `node` is a peer these routes know (it joined and has not gone).
    #[cfg(test)]
    pub fn knows(&self, node: &NodeId) -> bool {
        self.peers.contains_key(node)
    }

    /// The peers a message on `topic` goes to (within the bound).
    pub fn subscribers(&mut self, topic: &str) -> Arc<[NodeId]> {
        self.subscribers.subscribers(topic)
    }

    /// The patterns `node` is admitted on (refused ones not included).
    #[cfg(test)]
    pub fn patterns_of(&self, node: &NodeId) -> Vec<TopicPattern> {
        self.subscribers.patterns_of(node)
    }

    /// A beacon from `node` (joined or changed) lists `topics`: they replace its beacon patterns; what it
    /// announced over links stays.
    pub fn beacon(&mut self, node: NodeId, topics: &[String]) -> RouteChange {
        let mut change = RouteChange::default();
        let patterns = parse_all(topics, &mut change.invalid);
        self.peers.entry(node).or_default().beacon = patterns;
        self.apply(node, &mut change);
        change
    }

    /// `node` announced (`add`) or withdrew patterns over a link. Ignored, with an empty change, for a peer
    /// these routes do not know (not joined, or gone).
    pub fn linked(&mut self, node: NodeId, topics: &[String], add: bool) -> RouteChange {
        let mut change = RouteChange::default();
        let Some(peer) = self.peers.get_mut(&node) else {
            return change;
        };
        for pattern in parse_all(topics, &mut change.invalid) {
            if !add {
                peer.linked.remove(&pattern);
            } else if peer.linked.len() < MAX_LINK_PATTERNS || peer.linked.contains(&pattern) {
                peer.linked.insert(pattern);
            } else {
                change.over_cap += 1;
            }
        }
        self.apply(node, &mut change);
        change
    }

    /// A new link from `node` opened: it announces its whole list again on it, so what an older link said is
    /// forgotten. The routes stay as they are until that list arrives.
    pub fn link_opened(&mut self, node: &NodeId) {
        if let Some(peer) = self.peers.get_mut(node) {
            peer.linked.clear();
        }
    }

    /// `node` left or was lost: it subscribes to nothing any more, and refused peers may take its place.
    pub fn gone(&mut self, node: &NodeId) -> RouteChange {
        let mut change = RouteChange::default();
        if self.peers.remove(node).is_some() {
            self.subscribers.remove_subscriber(node);
            self.generation += 1;
            self.readmit(&mut change);
        }
        change
    }

    /// Makes `node`'s routes its beacon's patterns together with its linked ones, refusing those beyond the
    /// bound; if it dropped any, re-admits refused peers where there is room now.
    fn apply(&mut self, node: NodeId, change: &mut RouteChange) {
        let Some(peer) = self.peers.get_mut(&node) else {
            return;
        };
        let wanted: BTreeSet<TopicPattern> = peer.beacon.union(&peer.linked).cloned().collect();
        let mut dropped_any = false;
        for old in self.subscribers.patterns_of(&node) {
            if !wanted.contains(&old) {
                self.subscribers.unsubscribe(&old, &node);
                dropped_any = true;
            }
        }
        let before = std::mem::take(&mut peer.refused);
        for pattern in wanted {
            if let Err(SubscribeError::Limit { limit, .. }) =
                self.subscribers.subscribe(&pattern, node)
            {
                if !before.contains(&pattern) {
                    change.refused.push(Refused {
                        node,
                        pattern: pattern.clone(),
                        limit,
                    });
                }
                peer.refused.insert(pattern);
            }
        }
        self.generation += 1;
        if dropped_any {
            self.readmit(change);
        }
    }

    /// Admits refused patterns wherever the bound has room now.
    fn readmit(&mut self, change: &mut RouteChange) {
        for (node, peer) in self.peers.iter_mut() {
            let subscribers = &mut self.subscribers;
            peer.refused.retain(|pattern| {
                let admitted = subscribers.subscribe(pattern, *node).is_ok();
                if admitted {
                    change.admitted.push(Admitted {
                        node: *node,
                        pattern: pattern.clone(),
                    });
                }
                !admitted
            });
        }
        if !change.admitted.is_empty() {
            self.generation += 1;
        }
    }
}

/// The valid patterns among `topics`; the others are pushed to `invalid`.
fn parse_all(topics: &[String], invalid: &mut Vec<String>) -> BTreeSet<TopicPattern> {
    let mut patterns = BTreeSet::new();
    for topic in topics {
        match TopicPattern::parse(topic) {
            Ok(pattern) => {
                patterns.insert(pattern);
            }
            Err(_) => invalid.push(topic.clone()),
        }
    }
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> NodeId {
        NodeId::from_bytes([n; 16])
    }

    fn topics(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    fn pattern(text: &str) -> TopicPattern {
        TopicPattern::parse(text).unwrap()
    }

    #[test]
    fn a_beacon_routes_its_topics_and_a_new_beacon_replaces_them() {
        let mut routes = Routes::new(None);
        routes.beacon(id(1), &topics(&["a", "s.*"]));
        assert_eq!(&*routes.subscribers("s.x"), &[id(1)]);
        assert_eq!(&*routes.subscribers("a"), &[id(1)]);
        routes.beacon(id(1), &topics(&["b"]));
        assert!(routes.subscribers("a").is_empty());
        assert_eq!(&*routes.subscribers("b"), &[id(1)]);
    }

    #[test]
    fn linked_patterns_add_to_the_beacon_and_survive_a_new_beacon() {
        let mut routes = Routes::new(None);
        routes.beacon(id(1), &topics(&["a"]));
        routes.linked(id(1), &topics(&["b", "c"]), true);
        routes.beacon(id(1), &topics(&["a"]));
        assert_eq!(&*routes.subscribers("b"), &[id(1)]);
        routes.linked(id(1), &topics(&["b"]), false);
        assert!(routes.subscribers("b").is_empty());
        assert_eq!(&*routes.subscribers("c"), &[id(1)]);
        assert_eq!(&*routes.subscribers("a"), &[id(1)]);
    }

    #[test]
    fn linked_patterns_of_an_unknown_peer_are_ignored() {
        let mut routes = Routes::new(None);
        let change = routes.linked(id(9), &topics(&["a"]), true);
        assert_eq!(change, RouteChange::default());
        assert!(routes.subscribers("a").is_empty());
        assert!(!routes.knows(&id(9)));
    }

    #[test]
    fn invalid_and_excess_linked_patterns_are_reported() {
        let mut routes = Routes::new(None);
        routes.beacon(id(1), &[]);
        let many: Vec<String> = (0..MAX_LINK_PATTERNS + 3)
            .map(|i| format!("t{i}"))
            .collect();
        let change = routes.linked(id(1), &many, true);
        assert_eq!(change.over_cap, 3);
        let change = routes.linked(id(1), &topics(&["bad topic", "a.*.b"]), true);
        assert_eq!(change.invalid, topics(&["bad topic", "a.*.b"]));
        assert_eq!(routes.patterns_of(&id(1)).len(), MAX_LINK_PATTERNS);
    }

    #[test]
    fn the_bound_refuses_once_and_readmits_when_a_subscriber_goes() {
        let mut routes = Routes::new(Some(1));
        assert!(routes.beacon(id(1), &topics(&["t"])).refused.is_empty());
        let change = routes.beacon(id(2), &topics(&["t"]));
        assert_eq!(
            change.refused,
            vec![Refused {
                node: id(2),
                pattern: pattern("t"),
                limit: 1
            }]
        );
        // Its next beacon says the same: refused already, not reported again.
        assert!(routes.beacon(id(2), &topics(&["t"])).refused.is_empty());
        assert_eq!(&*routes.subscribers("t"), &[id(1)]);
        let change = routes.gone(&id(1));
        assert_eq!(
            change.admitted,
            vec![Admitted {
                node: id(2),
                pattern: pattern("t")
            }]
        );
        assert_eq!(&*routes.subscribers("t"), &[id(2)]);
    }

    #[test]
    fn dropping_a_pattern_makes_room_for_a_refused_peer() {
        let mut routes = Routes::new(Some(1));
        routes.beacon(id(1), &topics(&["t"]));
        routes.beacon(id(2), &topics(&["t"]));
        let change = routes.beacon(id(1), &topics(&[]));
        assert_eq!(change.admitted.len(), 1);
        assert_eq!(&*routes.subscribers("t"), &[id(2)]);
        // The first now wants it back: the bound refuses it in turn.
        let change = routes.beacon(id(1), &topics(&["t"]));
        assert_eq!(change.refused.len(), 1);
    }

    #[test]
    fn a_refused_peer_that_stops_wanting_a_pattern_is_not_admitted_later() {
        let mut routes = Routes::new(Some(1));
        routes.beacon(id(1), &topics(&["t"]));
        routes.beacon(id(2), &topics(&["t"]));
        routes.beacon(id(2), &topics(&[]));
        let change = routes.gone(&id(1));
        assert!(change.admitted.is_empty());
        assert!(routes.subscribers("t").is_empty());
    }

    #[test]
    fn a_new_link_forgets_what_the_old_one_announced_once_the_new_list_arrives() {
        let mut routes = Routes::new(None);
        routes.beacon(id(1), &topics(&["a"]));
        routes.linked(id(1), &topics(&["b"]), true);
        routes.link_opened(&id(1));
        // Routes stay until the new list comes.
        assert_eq!(&*routes.subscribers("b"), &[id(1)]);
        routes.linked(id(1), &topics(&["c"]), true);
        assert!(routes.subscribers("b").is_empty());
        assert_eq!(&*routes.subscribers("c"), &[id(1)]);
    }

    #[test]
    fn every_change_moves_the_generation() {
        let mut routes = Routes::new(None);
        let g0 = routes.generation();
        routes.beacon(id(1), &topics(&["a"]));
        let g1 = routes.generation();
        assert_ne!(g0, g1);
        routes.linked(id(1), &topics(&["b"]), true);
        assert_ne!(routes.generation(), g1);
        let g2 = routes.generation();
        routes.gone(&id(1));
        assert_ne!(routes.generation(), g2);
    }
}
