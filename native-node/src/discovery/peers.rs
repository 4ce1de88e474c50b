//! The live peer table, sans-IO: [`PeerTable::apply`] takes a beacon, where it came from and the time, and
//! says what changed; [`PeerTable::expire`] reports peers whose beacons stopped. No sockets, no clock: the
//! beacon loop ([`super::beacon`]) drives it, and tests drive it with made-up times.
//!
//! Limits: at most `max_peers` entries. When the table is full, beacons from *new* ids are refused (the caller
//! counts them) while known peers keep updating; room comes back as peers leave or expire. Names are unique:
//! a second id claiming a live peer's name is refused, and a beacon claiming this node's own name is reported.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use herald_core::bridge::{PeerInfo, PeerState};
use herald_core::discovery::Beacon;
use herald_core::NodeId;

/// Default bound on the peer table.
pub const DEFAULT_MAX_PEERS: usize = 1024;

/// What happened to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerChange {
    /// First beacon from this id (or first after it left or was lost).
    Joined,
    /// Its address, link port, services, topics, kind or gateway changed, or it restarted.
    Changed {
        /// The previous address when the address changed (an IP-history event too).
        old_addr: Option<IpAddr>,
    },
    /// It sent a leave beacon.
    Left,
    /// No beacon within its expiry.
    Lost,
}

/// A change to the peer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEvent {
    /// What happened.
    pub change: PeerChange,
    /// The peer as now known (as last known for `Left` and `Lost`).
    pub peer: PeerInfo,
    /// When (unix ms).
    pub at_ms: u64,
}

/// Why a beacon changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Our own beacon, looped back.
    Own,
    /// Not newer than the last beacon from this id (a duplicate, a reorder or a replay).
    Stale,
    /// The table is full and this id is new.
    TableFull,
    /// Another live id holds this name.
    NameTaken {
        /// The id holding the name.
        holder: NodeId,
    },
    /// A different id claims this node's own name.
    ClaimsOurName,
    /// A leave beacon from a peer we did not know.
    UnknownLeaving,
}

/// What a beacon changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The event, if the peer's visible state changed.
    pub event: Option<PeerEvent>,
    /// True when the sender is new to us or restarted: greet it with our own beacon by unicast so it learns
    /// of us at once.
    pub greet: bool,
}

#[derive(Debug)]
struct Entry {
    info: PeerInfo,
    incarnation: u64,
    seq: u64,
    expiry: Duration,
    last_seen: Instant,
    from: SocketAddr,
    /// Its beacon's topic list was cut to fit: the rest comes over a link.
    more_topics: bool,
}

/// The live peers of one node.
#[derive(Debug)]
pub struct PeerTable {
    own_id: NodeId,
    own_incarnation: u64,
    own_name: String,
    expiry_beats: u32,
    max_peers: usize,
    peers: HashMap<NodeId, Entry>,
    by_name: HashMap<String, NodeId>,
}

impl PeerTable {
    /// An empty table for node `own_id` (this run started at `own_incarnation`) named `own_name`; peers
    /// expire after `expiry_beats` of their own heartbeats; at most `max_peers` entries.
    pub fn new(
        own_id: NodeId,
        own_incarnation: u64,
        own_name: &str,
        expiry_beats: u32,
        max_peers: usize,
    ) -> Self {
        PeerTable {
            own_id,
            own_incarnation,
            own_name: own_name.to_owned(),
            expiry_beats: expiry_beats.max(1),
            max_peers,
            peers: HashMap::new(),
            by_name: HashMap::new(),
        }
    }

    /// Applies a beacon received from `from` at `now` (monotonic) / `now_ms` (unix ms).
    pub fn apply(
        &mut self,
        beacon: &Beacon,
        from: SocketAddr,
        now: Instant,
        now_ms: u64,
    ) -> Result<Applied, Refusal> {
        self.check_identity(beacon)?;
        let info = peer_info(beacon, from, now_ms);
        let Some(entry) = self.peers.get(&beacon.node_id) else {
            return self.join(beacon, from, info, now, now_ms);
        };
        let restarted = beacon.incarnation > entry.incarnation;
        if !restarted && (beacon.incarnation < entry.incarnation || beacon.seq <= entry.seq) {
            return Err(Refusal::Stale);
        }
        if beacon.leaving {
            let mut peer = self.remove(beacon.node_id).expect("entry exists").info;
            peer.state = PeerState::Left;
            peer.last_seen_ms = now_ms;
            return Ok(Applied {
                event: Some(PeerEvent {
                    change: PeerChange::Left,
                    peer,
                    at_ms: now_ms,
                }),
                greet: false,
            });
        }
        let event = self.update(beacon, from, info, now, now_ms);
        Ok(Applied {
            event,
            greet: restarted,
        })
    }

    /// Refuses our own beacon, a claim on our name, and a name another live id holds.
    fn check_identity(&self, beacon: &Beacon) -> Result<(), Refusal> {
        if beacon.node_id == self.own_id {
            // Our id from another run: a second process started with our name (and so our stored id).
            let other_run = beacon.incarnation != self.own_incarnation;
            return Err(if other_run {
                Refusal::ClaimsOurName
            } else {
                Refusal::Own
            });
        }
        if beacon.name == self.own_name && beacon.site.is_none() {
            return Err(Refusal::ClaimsOurName);
        }
        match self.by_name.get(&beacon_address(beacon)) {
            Some(&holder) if holder != beacon.node_id => Err(Refusal::NameTaken { holder }),
            _ => Ok(()),
        }
    }

    /// A beacon from an id not in the table: it joins, unless it is leaving or the table is full.
    fn join(
        &mut self,
        beacon: &Beacon,
        from: SocketAddr,
        info: PeerInfo,
        now: Instant,
        now_ms: u64,
    ) -> Result<Applied, Refusal> {
        if beacon.leaving {
            return Err(Refusal::UnknownLeaving);
        }
        if self.peers.len() >= self.max_peers {
            return Err(Refusal::TableFull);
        }
        let event = PeerEvent {
            change: PeerChange::Joined,
            peer: info.clone(),
            at_ms: now_ms,
        };
        self.by_name.insert(beacon_address(beacon), beacon.node_id);
        let entry = Entry {
            info,
            incarnation: beacon.incarnation,
            seq: beacon.seq,
            expiry: self.expiry_for(beacon),
            last_seen: now,
            from,
            more_topics: beacon.more_topics,
        };
        self.peers.insert(beacon.node_id, entry);
        Ok(Applied {
            event: Some(event),
            greet: true,
        })
    }

    /// A newer beacon from a known peer: its entry takes what the beacon says; a `Changed` event when
    /// anything visible changed (or it restarted).
    fn update(
        &mut self,
        beacon: &Beacon,
        from: SocketAddr,
        info: PeerInfo,
        now: Instant,
        now_ms: u64,
    ) -> Option<PeerEvent> {
        let expiry = self.expiry_for(beacon);
        let entry = self.peers.get_mut(&beacon.node_id)?;
        let restarted = beacon.incarnation > entry.incarnation;
        let old_addr = (entry.info.addr != info.addr).then_some(entry.info.addr);
        let changed = restarted
            || !same_visible_state(&entry.info, &info)
            || entry.more_topics != beacon.more_topics;
        if entry.info.address() != info.address() {
            self.by_name.remove(&entry.info.address());
            self.by_name.insert(info.address(), beacon.node_id);
        }
        entry.info = PeerInfo {
            first_seen_ms: entry.info.first_seen_ms,
            ..info
        };
        entry.incarnation = beacon.incarnation;
        entry.seq = beacon.seq;
        entry.expiry = expiry;
        entry.last_seen = now;
        entry.from = from;
        entry.more_topics = beacon.more_topics;
        changed.then(|| PeerEvent {
            change: PeerChange::Changed { old_addr },
            peer: entry.info.clone(),
            at_ms: now_ms,
        })
    }

    /// Removes peers whose last beacon is older than their expiry and reports them lost.
    pub fn expire(&mut self, now: Instant, now_ms: u64) -> Vec<PeerEvent> {
        let expired: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_seen) > e.expiry)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.remove(id))
            .map(|entry| {
                let mut peer = entry.info;
                peer.state = PeerState::Lost;
                PeerEvent {
                    change: PeerChange::Lost,
                    peer,
                    at_ms: now_ms,
                }
            })
            .collect()
    }

    /// Every live peer, by name.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = self.peers.values().map(|e| e.info.clone()).collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        peers
    }

    /// The live peer with this name: `name@site` names a peer at another site; a plain name means the peer of
    /// that name on this LAN, else the only peer of that name at any site (see [`PeerTable::candidates`] for the
    /// ambiguous case).
    pub fn by_name(&self, name: &str) -> Option<&PeerInfo> {
        if let Some(id) = self.by_name.get(name) {
            return self.peers.get(id).map(|e| &e.info);
        }
        let mut elsewhere = self.peers.values().filter(|e| e.info.name == name);
        match (elsewhere.next(), elsewhere.next()) {
            (Some(only), None) if !name.contains('@') => Some(&only.info),
            _ => None,
        }
    }

    /// Every peer a plain `name` could mean, as `name@site` (more than one when it is ambiguous: no peer of
    /// that name on this LAN, several at other sites).
    pub fn candidates(&self, name: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .peers
            .values()
            .filter(|e| e.info.name == name)
            .map(|e| e.info.address())
            .collect();
        found.sort();
        found
    }

    /// Where each live provider of `service` can be reached, by provider name.
    pub fn providers(&self, service: &str) -> Vec<(PeerInfo, SocketAddr)> {
        let mut found: Vec<(PeerInfo, SocketAddr)> = self
            .peers
            .values()
            .filter_map(|e| {
                e.info
                    .services
                    .get(service)
                    .map(|addr| (e.info.clone(), *addr))
            })
            .collect();
        found.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        found
    }

    /// Where to reach the live peer named `name` over a link (`None`: unknown, or it takes no links).
    pub fn target_by_name(&self, name: &str) -> Option<LinkTarget> {
        let id = self.by_name(name)?.node_id;
        self.target(&id)
    }

    /// Where to reach the live peer `id` over a link. For a legacy peer a gateway proxies, that is the link
    /// to its gateway (this node's own id when this node is the gateway), with `proxied` naming the peer.
    pub fn target(&self, id: &NodeId) -> Option<LinkTarget> {
        let info = &self.peers.get(id)?.info;
        Some(LinkTarget {
            node_id: info.via.unwrap_or(info.node_id),
            name: info.address(),
            tcp: info.tcp?,
            proxied: info.via.map(|_| info.node_id),
        })
    }

    /// True when the live peer `id` subscribes to more topics than its beacon lists (they come over a link).
    pub fn more_topics(&self, id: &NodeId) -> bool {
        self.peers.get(id).is_some_and(|e| e.more_topics)
    }

    /// The names of every live peer that takes links.
    pub fn linkable_names(&self) -> Vec<String> {
        self.peers
            .values()
            .filter(|e| e.info.tcp.is_some())
            .map(|e| e.info.name.clone())
            .collect()
    }

    /// Number of live peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when no peer is live.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The address a peer's beacons come from (where to greet it by unicast).
    pub fn source_of(&self, id: &NodeId) -> Option<SocketAddr> {
        self.peers.get(id).map(|e| e.from)
    }

    /// Where the live peers' own beacons come from (their discovery sockets), proxied peers left out: what a
    /// seed hands a newcomer in a peer list.
    pub fn sources(&self) -> Vec<SocketAddr> {
        let mut sources: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|e| e.info.via.is_none())
            .map(|e| e.from)
            .collect();
        sources.sort();
        sources.dedup();
        sources
    }

    fn expiry_for(&self, beacon: &Beacon) -> Duration {
        let heartbeat = Duration::from_millis(u64::from(beacon.heartbeat_ms.clamp(10, 600_000)));
        heartbeat * self.expiry_beats
    }

    fn remove(&mut self, id: NodeId) -> Option<Entry> {
        let entry = self.peers.remove(&id)?;
        if self.by_name.get(&entry.info.address()) == Some(&id) {
            self.by_name.remove(&entry.info.address());
        }
        Some(entry)
    }
}

/// Where a message for a subscribing peer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The peer.
    pub node_id: NodeId,
    /// Its name, for logs.
    pub name: String,
    /// Its link endpoint.
    pub tcp: SocketAddr,
    /// For a legacy peer behind a gateway (`node_id` is then the gateway's): the peer's own id, for
    /// `Frame::Relay`.
    pub proxied: Option<NodeId>,
}

/// The name a beacon's peer is addressed by (`name@site` at another site).
fn beacon_address(beacon: &Beacon) -> String {
    herald_core::bridge::peer_address(&beacon.name, beacon.site.as_deref())
}

/// The peer as the beacon describes it, seen from `from` at `now_ms`.
fn peer_info(beacon: &Beacon, from: SocketAddr, now_ms: u64) -> PeerInfo {
    let addr = beacon.addr.unwrap_or(from.ip());
    let services: BTreeMap<String, SocketAddr> = beacon
        .services
        .iter()
        .map(|(name, port)| (name.clone(), SocketAddr::new(addr, *port)))
        .collect();
    PeerInfo {
        node_id: beacon.node_id,
        name: beacon.name.clone(),
        kind: beacon.kind,
        addr,
        // A proxied peer is reached through its gateway's link listener, where the beacon came from.
        tcp: (beacon.tcp_port != 0).then(|| {
            let link_ip = if beacon.via.is_some() {
                from.ip()
            } else {
                addr
            };
            SocketAddr::new(link_ip, beacon.tcp_port)
        }),
        services,
        topics: beacon.topics.clone(),
        via: beacon.via,
        site: beacon.site.clone(),
        txt: beacon.txt.clone(),
        first_seen_ms: now_ms,
        last_seen_ms: now_ms,
        state: PeerState::Live,
    }
}

fn same_visible_state(a: &PeerInfo, b: &PeerInfo) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.addr == b.addr
        && a.tcp == b.tcp
        && a.services == b.services
        && a.topics == b.topics
        && a.via == b.via
        && a.site == b.site
        && a.txt == b.txt
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: NodeId = NodeId([0; 16]);

    fn beacon(id: u8, name: &str, seq: u64) -> Beacon {
        Beacon {
            incarnation: 1,
            seq,
            services: [("web".to_owned(), 8080)].into(),
            ..Beacon::new(NodeId([id; 16]), name)
        }
    }

    fn from(last: u8) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, last], 40_000))
    }

    fn table() -> PeerTable {
        PeerTable::new(ME, 1, "me", 3, 4)
    }

    #[test]
    fn a_peer_heard_by_multicast_and_by_unicast_is_one_peer() {
        let (mut t, t0) = (table(), Instant::now());
        // The same socket sends to the group and to seeds: one source, beacons numbered in one sequence.
        let joined = t.apply(&beacon(1, "alpha", 1), from(11), t0, 1000).unwrap();
        assert_eq!(joined.event.map(|e| e.change), Some(PeerChange::Joined));
        let unicast = t.apply(&beacon(1, "alpha", 2), from(11), t0, 1001).unwrap();
        assert_eq!(
            unicast,
            Applied {
                event: None,
                greet: false
            }
        );
        // The group's copy of an earlier beacon, arriving late, changes nothing either.
        assert_eq!(
            t.apply(&beacon(1, "alpha", 1), from(11), t0, 1002),
            Err(Refusal::Stale)
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.sources(), vec![from(11)]);
    }

    #[test]
    fn a_cut_topic_list_is_remembered_and_its_end_is_a_change() {
        let (mut t, t0) = (table(), Instant::now());
        let cut = Beacon {
            topics: vec!["a".into()],
            more_topics: true,
            ..beacon(1, "alpha", 1)
        };
        t.apply(&cut, from(11), t0, 1000).unwrap();
        assert!(t.more_topics(&NodeId([1; 16])));
        let whole = Beacon {
            topics: vec!["a".into()],
            ..beacon(1, "alpha", 2)
        };
        let applied = t.apply(&whole, from(11), t0, 1001).unwrap();
        assert_eq!(
            applied.event.map(|e| e.change),
            Some(PeerChange::Changed { old_addr: None })
        );
        assert!(!t.more_topics(&NodeId([1; 16])));
        assert!(!t.more_topics(&NodeId([2; 16])), "an unknown peer");
    }

    #[test]
    fn join_then_silence_then_lost_after_three_heartbeats() {
        let (mut t, t0) = (table(), Instant::now());
        let applied = t.apply(&beacon(1, "alpha", 1), from(11), t0, 1000).unwrap();
        assert_eq!(applied.event.unwrap().change, PeerChange::Joined);
        assert!(applied.greet);
        assert_eq!(
            t.providers("web")[0].1,
            "198.51.100.11:8080".parse().unwrap()
        );
        assert!(t.expire(t0 + Duration::from_millis(2999), 3999).is_empty());
        let lost = t.expire(t0 + Duration::from_millis(3001), 4001);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].change.clone(), lost[0].peer.state),
            (PeerChange::Lost, PeerState::Lost)
        );
        assert!(t.is_empty());
    }

    #[test]
    fn heartbeats_refresh_without_events_and_duplicates_are_stale() {
        let (mut t, t0) = (table(), Instant::now());
        t.apply(&beacon(1, "alpha", 1), from(11), t0, 0).unwrap();
        let again = t
            .apply(
                &beacon(1, "alpha", 2),
                from(11),
                t0 + Duration::from_secs(2),
                2000,
            )
            .unwrap();
        assert_eq!(
            again,
            Applied {
                event: None,
                greet: false
            }
        );
        assert_eq!(
            t.apply(&beacon(1, "alpha", 2), from(11), t0, 0),
            Err(Refusal::Stale)
        );
        assert_eq!(
            t.apply(&beacon(1, "alpha", 1), from(11), t0, 0),
            Err(Refusal::Stale)
        );
        assert!(
            t.expire(t0 + Duration::from_millis(4500), 4500).is_empty(),
            "the refresh moved the expiry"
        );
        assert_eq!(t.peers()[0].first_seen_ms, 0);
        assert_eq!(t.peers()[0].last_seen_ms, 2000);
    }

    #[test]
    fn address_and_service_changes_are_reported() {
        let (mut t, t0) = (table(), Instant::now());
        t.apply(&beacon(1, "alpha", 1), from(11), t0, 0).unwrap();
        let moved = t
            .apply(&beacon(1, "alpha", 2), from(12), t0, 1)
            .unwrap()
            .event
            .unwrap();
        assert_eq!(
            moved.change,
            PeerChange::Changed {
                old_addr: Some("198.51.100.11".parse().unwrap())
            }
        );
        assert_eq!(
            moved.peer.services["web"],
            "198.51.100.12:8080".parse().unwrap()
        );
        let mut more = beacon(1, "alpha", 3);
        more.services.insert("ssh".into(), 22);
        let changed = t.apply(&more, from(12), t0, 2).unwrap().event.unwrap();
        assert_eq!(changed.change, PeerChange::Changed { old_addr: None });
    }

    #[test]
    fn leave_is_seen_at_once_and_unknown_leaves_are_ignored() {
        let (mut t, t0) = (table(), Instant::now());
        t.apply(&beacon(1, "alpha", 1), from(11), t0, 0).unwrap();
        let mut bye = beacon(1, "alpha", 2);
        bye.leaving = true;
        let left = t.apply(&bye, from(11), t0, 5).unwrap().event.unwrap();
        assert_eq!(
            (left.change, left.peer.state),
            (PeerChange::Left, PeerState::Left)
        );
        assert!(t.is_empty());
        assert_eq!(t.apply(&bye, from(11), t0, 5), Err(Refusal::UnknownLeaving));
    }

    #[test]
    fn a_restart_is_a_change_that_gets_a_greeting() {
        let (mut t, t0) = (table(), Instant::now());
        t.apply(&beacon(1, "alpha", 9), from(11), t0, 0).unwrap();
        let mut reborn = beacon(1, "alpha", 0);
        reborn.incarnation = 2;
        let applied = t.apply(&reborn, from(11), t0, 1).unwrap();
        assert!(applied.greet);
        assert_eq!(
            applied.event.unwrap().change,
            PeerChange::Changed { old_addr: None }
        );
    }

    #[test]
    fn link_targets_need_a_link_port_and_follow_renames() {
        let (mut t, t0) = (table(), Instant::now());
        let mut alpha = beacon(1, "alpha", 1);
        alpha.tcp_port = 4000;
        t.apply(&alpha, from(11), t0, 0).unwrap();
        t.apply(&beacon(2, "bravo", 1), from(12), t0, 0).unwrap();
        let found = t.target_by_name("alpha").expect("alpha takes links");
        assert_eq!(found.tcp, "198.51.100.11:4000".parse().unwrap());
        assert_eq!(t.target(&found.node_id), Some(found.clone()));
        assert_eq!(t.target_by_name("bravo"), None, "no link port announced");
        assert_eq!(t.target_by_name("charlie"), None);
        assert_eq!(t.linkable_names(), vec!["alpha".to_owned()]);
        alpha.seq = 2;
        alpha.name = "alpha2".into();
        t.apply(&alpha, from(11), t0, 0).unwrap();
        assert_eq!(t.target_by_name("alpha"), None);
        assert_eq!(
            t.target_by_name("alpha2").map(|f| f.node_id),
            Some(found.node_id)
        );
    }

    #[test]
    fn names_are_unique_per_site_and_plain_names_find_the_only_one() {
        let (mut t, t0) = (table(), Instant::now());
        let at = |id: u8, site: &str| Beacon {
            site: Some(site.into()),
            via: Some(NodeId([9; 16])),
            tcp_port: 4000,
            ..beacon(id, "alpha", 1)
        };
        t.apply(&at(1, "b"), from(9), t0, 1000).unwrap();
        assert_eq!(t.by_name("alpha").map(|p| p.node_id), Some(NodeId([1; 16])));
        t.apply(&at(2, "c"), from(9), t0, 1000).unwrap();
        assert_eq!(t.by_name("alpha"), None, "ambiguous");
        assert_eq!(t.candidates("alpha"), ["alpha@b", "alpha@c"]);
        assert_eq!(
            t.by_name("alpha@c").map(|p| p.node_id),
            Some(NodeId([2; 16]))
        );
        let target = t.target_by_name("alpha@b").unwrap();
        assert_eq!(
            (target.name.as_str(), target.node_id),
            ("alpha@b", NodeId([9; 16]))
        );
        // A local peer of the same name takes the plain name.
        t.apply(&beacon(3, "alpha", 1), from(11), t0, 1000).unwrap();
        assert_eq!(t.by_name("alpha").map(|p| p.node_id), Some(NodeId([3; 16])));
        assert!(
            t.apply(&at(4, "b"), from(9), t0, 1000).is_err(),
            "alpha@b is taken"
        );
    }

    #[test]
    fn names_are_unique() {
        let (mut t, t0) = (table(), Instant::now());
        t.apply(&beacon(1, "alpha", 1), from(11), t0, 0).unwrap();
        assert_eq!(
            t.apply(&beacon(2, "alpha", 1), from(12), t0, 0),
            Err(Refusal::NameTaken {
                holder: NodeId([1; 16])
            })
        );
        assert_eq!(
            t.apply(&beacon(3, "me", 1), from(13), t0, 0),
            Err(Refusal::ClaimsOurName)
        );
        let mut own = beacon(0, "me", 1);
        own.node_id = ME;
        assert_eq!(t.apply(&own, from(10), t0, 0), Err(Refusal::Own));
        own.incarnation = 2;
        assert_eq!(
            t.apply(&own, from(10), t0, 0),
            Err(Refusal::ClaimsOurName),
            "a second process with our id"
        );
        // Once alpha is gone its name is free again.
        t.expire(t0 + Duration::from_secs(10), 10_000);
        assert!(t
            .apply(
                &beacon(2, "alpha", 1),
                from(12),
                t0 + Duration::from_secs(10),
                10_000
            )
            .is_ok());
    }

    #[test]
    fn a_full_table_refuses_new_ids_but_keeps_updating_known_ones() {
        let (mut t, t0) = (table(), Instant::now());
        for id in 1..=4 {
            t.apply(&beacon(id, &format!("p{id}"), 1), from(id), t0, 0)
                .unwrap();
        }
        assert_eq!(
            t.apply(&beacon(5, "p5", 1), from(5), t0, 0),
            Err(Refusal::TableFull)
        );
        assert!(t
            .apply(&beacon(1, "p1", 2), from(99), t0, 0)
            .unwrap()
            .event
            .is_some());
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn a_flood_of_fake_ids_cannot_grow_the_table() {
        let (mut t, t0) = (PeerTable::new(ME, 1, "me", 3, 100), Instant::now());
        let mut refused = 0;
        for i in 0..10_000u32 {
            let mut fake = beacon(0, &format!("fake{i}"), 1);
            fake.node_id = NodeId(
                [i.to_be_bytes(), [1; 4], [2; 4], [3; 4]]
                    .concat()
                    .try_into()
                    .unwrap(),
            );
            if t.apply(&fake, from(1), t0, 0) == Err(Refusal::TableFull) {
                refused += 1;
            }
        }
        assert_eq!((t.len(), refused), (100, 9_900));
    }
}
