//! The peer table: every peer seen since the page connected, live or gone, updated in place by events.

use herald_core::bridge::{PeerInfo, PeerState};
use herald_core::PeerKind;

use super::vec_map::VecMap;
use crate::text::lowercase;

/// Departed peers kept for display; beyond it the longest-gone are forgotten.
pub const MAX_DEPARTED: usize = 500;

/// How the table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// By name.
    #[default]
    Name,
    /// By address.
    Address,
    /// Most recently seen first.
    LastSeen,
    /// Live first, then left, then lost; by name within each.
    State,
}

/// The badge of a peer that speaks an older protocol through a Herald gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyBadge {
    /// The protocol, as its users call it (`hein`, `pythonConnect`, `Twisted hub`, `DynIP`).
    pub label: &'static str,
    /// The tooltip: what the peer is, and its gateway's name when known.
    pub title: String,
}

/// Peers by name. A peer at another site is named by its address, `name@site` (names are unique only within
/// a site, and the node takes that form wherever it takes a peer's name), so the views need no other key.
#[derive(Debug, Default, Clone)]
pub struct PeerTable {
    peers: VecMap<String, PeerInfo>,
}

/// `peer`, named `name@site` when it is at another site.
fn named_by_address(mut peer: PeerInfo) -> PeerInfo {
    if peer.site.is_some() {
        peer.name = peer.address();
    }
    peer
}

impl PeerTable {
    /// Adds or updates a peer (its state included: a left or lost peer stays, marked).
    pub fn upsert(&mut self, peer: PeerInfo) {
        let peer = named_by_address(peer);
        self.peers.insert(peer.name.clone(), peer);
        self.forget_oldest_departed();
    }

    /// The live peers are exactly `live` (a snapshot or a `peers` reply): others still marked live are gone.
    pub fn replace_live(&mut self, live: Vec<PeerInfo>) {
        let live: Vec<PeerInfo> = live.into_iter().map(named_by_address).collect();
        for peer in self.peers.values_mut() {
            if peer.state == PeerState::Live && !live.iter().any(|p| p.name == peer.name) {
                peer.state = PeerState::Lost;
            }
        }
        for peer in live {
            self.peers.insert(peer.name.clone(), peer);
        }
        self.forget_oldest_departed();
    }

    /// Peers whose name or a service name contains `filter` (case-insensitive), sorted.
    pub fn rows(&self, filter: &str, sort: SortBy) -> Vec<&PeerInfo> {
        let filter = lowercase(filter.trim());
        let mut rows: Vec<&PeerInfo> = self
            .peers
            .values()
            .filter(|p| {
                filter.is_empty()
                    || lowercase(&p.name).contains(&filter)
                    || p.services.keys().any(|s| lowercase(s).contains(&filter))
            })
            .collect();
        // One unstable sort with one comparator (each sort call costs the wasm its own copy of the sort's
        // code, and a stable sort's is the larger); ties go by name, as the table is kept.
        if sort != SortBy::Name {
            rows.sort_unstable_by(|a, b| {
                match sort {
                    SortBy::Name => std::cmp::Ordering::Equal,
                    SortBy::Address => a.addr.cmp(&b.addr),
                    SortBy::LastSeen => b.last_seen_ms.cmp(&a.last_seen_ms),
                    SortBy::State => state_rank(a.state).cmp(&state_rank(b.state)),
                }
                .then_with(|| a.name.cmp(&b.name))
            });
        }
        rows
    }

    /// Live peers' names, sorted (for choosing whom to ask).
    pub fn live_names(&self) -> Vec<String> {
        self.peers
            .values()
            .filter(|p| p.state == PeerState::Live)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Live peers counted by `group` (their kind; their site once peers carry one), by group.
    pub fn live_count_by(&self, group: impl Fn(&PeerInfo) -> String) -> VecMap<String, usize> {
        let mut counts = VecMap::default();
        for peer in self.peers.values().filter(|p| p.state == PeerState::Live) {
            *counts.entry_or_default(group(peer)) += 1;
        }
        counts
    }

    /// The peer named `name`, live or gone.
    pub fn get(&self, name: &str) -> Option<&PeerInfo> {
        self.peers.get(name)
    }

    /// Every topic pattern live peers subscribe to.
    pub fn topics(&self) -> impl Iterator<Item = String> + '_ {
        self.peers
            .values()
            .filter(|p| p.state == PeerState::Live)
            .flat_map(|p| p.topics.iter().cloned())
    }

    /// The badge for `peer` when it speaks an older protocol (none for Herald nodes and CLI one-shots).
    pub fn legacy_badge(&self, peer: &PeerInfo) -> Option<LegacyBadge> {
        let (label, what) = match peer.kind {
            PeerKind::HeinReceiver => ("hein", "a hein receiver"),
            PeerKind::Pythonconnect => ("pythonConnect", "a pythonConnect device"),
            PeerKind::TwistedHub => ("Twisted hub", "a service registered with the Twisted hub"),
            PeerKind::Dynip => ("DynIP", "a DynIP reporter"),
            PeerKind::Mdns => ("DNS-SD", "a DNS-SD service found by mDNS"),
            PeerKind::Herald | PeerKind::Cli => return None,
        };
        let gateway = peer.via.map(|via| {
            self.peers
                .values()
                .find(|p| p.node_id == via)
                .map_or_else(|| via.short(), |p| p.name.clone())
        });
        let title = match gateway {
            Some(gateway) => format!("{what}, through the Herald gateway {gateway}"),
            None => what.to_owned(),
        };
        Some(LegacyBadge { label, title })
    }

    /// Peers known, live or not.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when no peer was seen.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Forgets the longest-gone departed peers beyond [`MAX_DEPARTED`] (usually one, after an upsert).
    fn forget_oldest_departed(&mut self) {
        let departed = |p: &&PeerInfo| p.state != PeerState::Live;
        let mut excess = self
            .peers
            .values()
            .filter(departed)
            .count()
            .saturating_sub(MAX_DEPARTED);
        while excess > 0 {
            let Some(oldest) = self
                .peers
                .values()
                .filter(departed)
                .min_by_key(|p| p.last_seen_ms)
                .map(|p| p.name.clone())
            else {
                break;
            };
            self.peers.remove(&oldest);
            excess -= 1;
        }
    }
}

fn state_rank(state: PeerState) -> u8 {
    match state {
        PeerState::Live => 0,
        PeerState::Left => 1,
        PeerState::Lost => 2,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use herald_core::NodeId;

    pub(crate) fn peer(name: &str, ip: &str, state: PeerState, last_seen_ms: u64) -> PeerInfo {
        PeerInfo {
            node_id: NodeId::from_bytes([name.len() as u8; 16]),
            name: name.into(),
            kind: PeerKind::Herald,
            addr: ip.parse().unwrap(),
            tcp: None,
            services: [("web".to_owned(), format!("{ip}:80").parse().unwrap())]
                .into_iter()
                .filter(|_| name.starts_with('w'))
                .collect(),
            topics: Vec::new(),
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: 1,
            last_seen_ms,
            state,
        }
    }

    fn names(rows: Vec<&PeerInfo>) -> Vec<&str> {
        rows.into_iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn peers_update_in_place_and_keep_their_departure() {
        let mut table = PeerTable::default();
        table.upsert(peer("bravo", "10.0.0.2", PeerState::Live, 5));
        table.upsert(peer("alpha", "10.0.0.9", PeerState::Live, 7));
        table.upsert(peer("bravo", "10.0.0.3", PeerState::Live, 9));
        assert_eq!(table.len(), 2);
        table.upsert(peer("alpha", "10.0.0.9", PeerState::Left, 8));
        assert_eq!(table.live_names(), ["bravo"]);
        assert_eq!(names(table.rows("", SortBy::Name)), ["alpha", "bravo"]);
        assert_eq!(names(table.rows("", SortBy::State)), ["bravo", "alpha"]);
        assert_eq!(names(table.rows("", SortBy::LastSeen)), ["bravo", "alpha"]);
        assert_eq!(names(table.rows("", SortBy::Address)), ["bravo", "alpha"]);
        assert_eq!(table.rows("", SortBy::Name)[1].addr.to_string(), "10.0.0.3");
    }

    #[test]
    fn live_peers_count_by_group() {
        let mut table = PeerTable::default();
        table.upsert(peer("a", "10.0.0.1", PeerState::Live, 1));
        table.upsert(peer("b", "10.0.0.2", PeerState::Live, 1));
        table.upsert(peer("c", "10.0.0.3", PeerState::Lost, 1));
        let counts = table.live_count_by(|p| p.kind.to_string());
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            [(&"herald".to_owned(), &2)]
        );
        assert_eq!(table.get("c").unwrap().state, PeerState::Lost);
    }

    #[test]
    fn filters_match_names_and_services() {
        let mut table = PeerTable::default();
        table.upsert(peer("web-1", "10.0.0.2", PeerState::Live, 5));
        table.upsert(peer("db", "10.0.0.3", PeerState::Live, 5));
        assert_eq!(names(table.rows("WEB", SortBy::Name)), ["web-1"]);
        assert_eq!(names(table.rows(" d ", SortBy::Name)), ["db"]);
        assert!(table.rows("nothing", SortBy::Name).is_empty());
    }

    #[test]
    fn a_snapshot_marks_peers_it_does_not_list_as_lost() {
        let mut table = PeerTable::default();
        table.upsert(peer("alpha", "10.0.0.1", PeerState::Live, 5));
        table.replace_live(vec![peer("bravo", "10.0.0.2", PeerState::Live, 6)]);
        assert_eq!(table.live_names(), ["bravo"]);
        assert_eq!(table.rows("alpha", SortBy::Name)[0].state, PeerState::Lost);
    }

    #[test]
    fn departed_peers_are_bounded() {
        let mut table = PeerTable::default();
        for n in 0..(MAX_DEPARTED as u64 + 10) {
            table.upsert(peer(&format!("p{n}"), "10.0.0.1", PeerState::Lost, n));
        }
        assert_eq!(table.len(), MAX_DEPARTED);
        assert!(table
            .rows("p0", SortBy::Name)
            .iter()
            .all(|p| p.name != "p0"));
    }

    #[test]
    fn peers_at_other_sites_are_named_by_address_so_equal_names_stay_apart() {
        let mut table = PeerTable::default();
        let mut at_a = peer("sensor", "198.51.100.12", PeerState::Live, 1);
        at_a.site = Some("a".into());
        at_a.node_id = NodeId::from_bytes([1; 16]);
        let mut at_b = peer("sensor", "203.0.113.12", PeerState::Live, 1);
        at_b.site = Some("b".into());
        at_b.node_id = NodeId::from_bytes([2; 16]);
        table.upsert(peer("sensor", "198.51.100.2", PeerState::Live, 1));
        table.upsert(at_a.clone());
        table.replace_live(vec![
            peer("sensor", "198.51.100.2", PeerState::Live, 1),
            at_a,
            at_b,
        ]);
        assert_eq!(table.live_names(), ["sensor", "sensor@a", "sensor@b"]);
        assert_eq!(
            table.get("sensor@b").unwrap().addr.to_string(),
            "203.0.113.12"
        );
        let by_site = table.live_count_by(|p| p.site.clone().unwrap_or_default());
        assert_eq!(by_site.values().copied().collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn legacy_peers_get_a_badge_naming_their_protocol_and_gateway() {
        let mut table = PeerTable::default();
        let gateway = peer("gateway", "198.51.100.1", PeerState::Live, 1);
        let mut device = peer("zulu", "198.51.100.2", PeerState::Live, 1);
        device.kind = PeerKind::Pythonconnect;
        device.via = Some(gateway.node_id);
        let mut orphan = peer("svc", "198.51.100.3", PeerState::Live, 1);
        orphan.kind = PeerKind::TwistedHub;
        orphan.via = Some(NodeId::from_bytes([9; 16]));
        table.upsert(gateway.clone());
        table.upsert(device.clone());
        assert_eq!(table.legacy_badge(&gateway), None);
        let badge = table.legacy_badge(&device).unwrap();
        assert_eq!(badge.label, "pythonConnect");
        assert_eq!(
            badge.title,
            "a pythonConnect device, through the Herald gateway gateway"
        );
        let badge = table.legacy_badge(&orphan).unwrap();
        assert_eq!(badge.label, "Twisted hub");
        assert!(badge.title.ends_with(&NodeId::from_bytes([9; 16]).short()));
    }
}
