//! Unicast discovery, sans-IO: [`SeedMesh`] decides where a node sends its beacons by unicast (its seeds,
//! and the peers it heard by unicast or learned from a seed's [`PeerList`](herald_core::discovery::PeerList))
//! and when it answers a newcomer with a peer list. No sockets, no clock: the beacon task
//! ([`super::beacon`]) drives it, and tests drive it with made-up times.
//!
//! Rules:
//! - Seeds are beaconed every heartbeat, always; this node's own discovery socket is never one of them.
//! - An address learned from a peer list, or heard sending a beacon by unicast, is beaconed every heartbeat
//!   too (a full mesh), unless the same address was heard on the multicast group lately (multicast reaches
//!   it already). One only heard by unicast waits a `grace` (a little over a heartbeat) first: on a LAN where
//!   multicast works, the unicast greetings every newcomer gets are followed by that peer's beacons on the
//!   group within a heartbeat, and then nothing more goes by unicast. An address heard from by no beacon for
//!   `stale_after` is forgotten, and one that sent a leave beacon at once. At most `max` learned addresses
//!   (the node's `max_peers`). Addresses in a peer list that are already live peers' are not learned again.
//! - Peer lists are accepted only from seeds and from addresses in the mesh, and every address in them must
//!   first answer our beacon with its own before it is a peer (the peer table, [`super::peers`], decides
//!   that, by node id: a peer heard by multicast and by unicast is one peer).
//! - A newcomer's first unicast beacon (or its first after a restart) is owed a peer list of at most
//!   [`MAX_PEER_ADDRS`] addresses, sent after the same `grace` unless the newcomer was heard on the group
//!   meanwhile (then multicast serves it); at most [`PEER_LISTS_PER_HEARTBEAT`] lists a heartbeat.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herald_core::discovery::MAX_PEER_ADDRS;

/// Peer lists sent per heartbeat at most; beyond it newcomers still learn of this node, and of the others
/// from the next node that answers them.
pub const PEER_LISTS_PER_HEARTBEAT: u32 = 32;

/// How a datagram reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// On the multicast group.
    Group,
    /// By unicast, to this node's own discovery socket.
    Unicast,
}

#[derive(Debug, Clone)]
struct Learned {
    /// When it was put in the mesh.
    since: Instant,
    /// True when it came from a peer list (then it is beaconed at once).
    listed: bool,
    /// When it was put in the mesh or last sent a beacon by unicast.
    fresh_at: Instant,
    /// When a beacon from it last came on the multicast group.
    group_at: Option<Instant>,
}

/// Where this node beacons by unicast, and to whom it owes a peer list.
#[derive(Debug)]
pub struct SeedMesh {
    own: SocketAddr,
    seeds: Vec<SocketAddr>,
    learned: HashMap<SocketAddr, Learned>,
    max: usize,
    stale_after: Duration,
    grace: Duration,
    /// Newcomers owed a peer list, and since when.
    owed: HashMap<SocketAddr, Instant>,
    lists_left: u32,
}

impl SeedMesh {
    /// A mesh for the node whose discovery socket is `own`, with `seeds` (itself and duplicates left out);
    /// learned addresses are forgotten after `stale_after` without a beacon; at most `max` of them; `grace`
    /// is how long an address heard only by unicast waits for multicast to reach it (about a heartbeat).
    pub fn new(
        own: SocketAddr,
        seeds: &[SocketAddr],
        max: usize,
        stale_after: Duration,
        grace: Duration,
    ) -> Self {
        let mut mesh = SeedMesh {
            own,
            seeds: Vec::new(),
            learned: HashMap::new(),
            max,
            stale_after,
            grace,
            owed: HashMap::new(),
            lists_left: PEER_LISTS_PER_HEARTBEAT,
        };
        mesh.set_seeds(seeds);
        mesh
    }

    fn set_seeds(&mut self, seeds: &[SocketAddr]) {
        self.seeds.clear();
        for seed in seeds {
            if usable(seed) && *seed != self.own && !self.seeds.contains(seed) {
                self.seeds.push(*seed);
            }
        }
    }

    /// This node's discovery socket moved (its interface's address changed): a seed that is now itself is
    /// left out, one that no longer is comes back.
    pub fn set_own(&mut self, own: SocketAddr, seeds: &[SocketAddr]) {
        self.own = own;
        self.learned.remove(&own);
        self.set_seeds(seeds);
    }

    /// The seeds in use (without this node itself).
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// True when `from` is one of the seeds.
    pub fn is_seed(&self, from: SocketAddr) -> bool {
        self.seeds.contains(&from)
    }

    /// True when a peer list from `from` is accepted: a seed's, or one from an address in the mesh.
    pub fn accepts_list_from(&self, from: SocketAddr) -> bool {
        self.is_seed(from) || self.learned.contains_key(&from)
    }

    /// A valid beacon (not our own, not a leave) came from `from` at `now`.
    pub fn heard(&mut self, from: SocketAddr, via: Via, now: Instant) {
        if from == self.own || !usable(&from) {
            return;
        }
        match via {
            Via::Group => {
                if let Some(entry) = self.learned.get_mut(&from) {
                    entry.group_at = Some(now);
                }
            }
            Via::Unicast => {
                if self.is_seed(from) {
                    return;
                }
                if let Some(entry) = self.learned.get_mut(&from) {
                    entry.fresh_at = now;
                } else if self.learned.len() < self.max {
                    self.learned.insert(
                        from,
                        Learned {
                            since: now,
                            listed: false,
                            fresh_at: now,
                            group_at: None,
                        },
                    );
                }
            }
        }
    }

    /// Addresses from a peer list (whose sender was accepted); returns the ones new to the mesh, to greet at
    /// once. This node itself, seeds, the discovery sockets of live peers (`known`), unusable addresses and
    /// any beyond the bound are left out.
    pub fn learn(
        &mut self,
        addrs: &[SocketAddr],
        known: &[SocketAddr],
        now: Instant,
    ) -> Vec<SocketAddr> {
        let mut new = Vec::new();
        for addr in addrs.iter().take(MAX_PEER_ADDRS) {
            if *addr == self.own
                || !usable(addr)
                || self.is_seed(*addr)
                || known.contains(addr)
                || self.learned.contains_key(addr)
                || self.learned.len() >= self.max
            {
                continue;
            }
            self.learned.insert(
                *addr,
                Learned {
                    since: now,
                    listed: true,
                    fresh_at: now,
                    group_at: None,
                },
            );
            new.push(*addr);
        }
        new
    }

    /// `from` sent a leave beacon: stop beaconing it (a seed stays, for when it comes back).
    pub fn left(&mut self, from: SocketAddr) {
        self.learned.remove(&from);
        self.owed.remove(&from);
    }

    /// Forgets learned addresses silent for `stale_after`; call it every heartbeat. Also refills the budget
    /// of peer lists.
    pub fn expire(&mut self, now: Instant) {
        let stale_after = self.stale_after;
        self.learned
            .retain(|_, e| now.saturating_duration_since(e.fresh_at) <= stale_after);
        // A newcomer still in the mesh stays owed until the budget lets its list go.
        let learned = &self.learned;
        self.owed.retain(|addr, at| {
            learned.contains_key(addr) || now.saturating_duration_since(*at) <= stale_after
        });
        self.lists_left = PEER_LISTS_PER_HEARTBEAT;
    }

    fn heard_on_group_lately(&self, addr: &SocketAddr, now: Instant) -> bool {
        self.learned
            .get(addr)
            .and_then(|e| e.group_at)
            .is_some_and(|at| now.saturating_duration_since(at) <= self.stale_after)
    }

    /// Where to send this node's beacon by unicast now: every seed, then every learned address not heard on
    /// the group lately.
    pub fn targets(&self, now: Instant) -> Vec<SocketAddr> {
        let mut targets = self.seeds.clone();
        let mut learned: Vec<SocketAddr> = self
            .learned
            .iter()
            .filter(|(addr, e)| {
                (e.listed || now.saturating_duration_since(e.since) >= self.grace)
                    && !self.heard_on_group_lately(addr, now)
            })
            .map(|(addr, _)| *addr)
            .collect();
        learned.sort();
        targets.extend(learned);
        targets
    }

    /// Number of learned addresses (seeds not counted).
    pub fn learned_len(&self) -> usize {
        self.learned.len()
    }

    /// `to`'s beacon came by unicast and the peer table found it new (or restarted): it is owed a peer list,
    /// [`SeedMesh::due_lists`] says when.
    pub fn owe_list(&mut self, to: SocketAddr, now: Instant) {
        if to != self.own && usable(&to) && (self.owed.len() < self.max) {
            self.owed.entry(to).or_insert(now);
        }
    }

    /// The newcomers whose peer list is due now (owed for `grace`), oldest first and no more than this
    /// heartbeat's budget has room for (the rest stay owed); those heard on the group meanwhile are dropped
    /// instead (multicast serves them).
    pub fn due_lists(&mut self, now: Instant) -> Vec<SocketAddr> {
        let grace = self.grace;
        let mut due: Vec<(Instant, SocketAddr)> = self
            .owed
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= grace)
            .map(|(addr, at)| (*at, *addr))
            .collect();
        due.sort();
        let mut send = Vec::new();
        for (_, addr) in due {
            if send.len() >= self.lists_left as usize {
                break;
            }
            self.owed.remove(&addr);
            if !self.heard_on_group_lately(&addr, now) {
                send.push(addr);
            }
        }
        send.sort();
        send
    }

    /// The peer list for `to` (see [`SeedMesh::due_lists`]): `None` when it would be empty or this
    /// heartbeat's budget is spent.
    /// `known` are the discovery sockets of the live peers; a window of at most [`MAX_PEER_ADDRS`] of them
    /// starting at `offset` (modulo their number) is handed out, so a seed that knows more gives different
    /// newcomers different ones.
    pub fn peer_list_for(
        &mut self,
        to: SocketAddr,
        known: &[SocketAddr],
        offset: usize,
    ) -> Option<Vec<SocketAddr>> {
        let mut candidates: Vec<SocketAddr> = known
            .iter()
            .copied()
            .filter(|a| *a != to && *a != self.own && usable(a))
            .collect();
        candidates.sort();
        candidates.dedup();
        if candidates.is_empty() || self.lists_left == 0 {
            return None;
        }
        self.lists_left -= 1;
        let start = offset % candidates.len();
        let window = candidates
            .iter()
            .cycle()
            .skip(start)
            .take(candidates.len().min(MAX_PEER_ADDRS))
            .copied()
            .collect();
        Some(window)
    }
}

/// An address one can send a beacon to: not unspecified, not multicast or broadcast, not port 0.
fn usable(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    addr.port() != 0
        && !ip.is_unspecified()
        && !ip.is_multicast()
        && ip != std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(6);
    const GRACE: Duration = Duration::from_millis(1200);

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, last], port))
    }

    fn mesh(seeds: &[SocketAddr]) -> SeedMesh {
        SeedMesh::new(addr(1, 7268), seeds, 16, STALE, GRACE)
    }

    #[test]
    fn a_node_ignores_itself_and_duplicates_as_seeds() {
        let own = addr(1, 7268);
        let m = mesh(&[own, addr(2, 7268), addr(2, 7268), addr(1, 7269)]);
        assert_eq!(m.seeds(), &[addr(2, 7268), addr(1, 7269)]);
        let now = Instant::now();
        assert_eq!(m.targets(now), vec![addr(2, 7268), addr(1, 7269)]);
    }

    #[test]
    fn unusable_seeds_are_left_out() {
        let m = mesh(&[
            SocketAddr::from(([0, 0, 0, 0], 7268)),
            SocketAddr::from(([239, 255, 72, 68], 7268)),
            addr(3, 0),
        ]);
        assert!(m.seeds().is_empty());
    }

    #[test]
    fn moving_onto_a_seed_address_drops_it_and_moving_away_brings_it_back() {
        let seeds = [addr(2, 7268)];
        let mut m = mesh(&seeds);
        m.set_own(addr(2, 7268), &seeds);
        assert!(m.seeds().is_empty());
        m.set_own(addr(9, 7268), &seeds);
        assert_eq!(m.seeds(), &seeds);
    }

    #[test]
    fn learned_addresses_join_the_mesh_once_and_are_greeted_once() {
        let now = Instant::now();
        let seed = addr(2, 7268);
        let mut m = mesh(&[seed]);
        let listed = [
            addr(3, 7268),
            addr(1, 7268),
            seed,
            addr(3, 7268),
            addr(4, 7268),
        ];
        let new = m.learn(&listed, &[addr(4, 7268)], now);
        assert_eq!(
            new,
            vec![addr(3, 7268)],
            "itself, the seed, a live peer and a repeat left out"
        );
        assert!(m.learn(&[addr(3, 7268)], &[], now).is_empty());
        assert_eq!(m.targets(now), vec![seed, addr(3, 7268)], "listed: at once");
    }

    #[test]
    fn a_peer_beaconing_by_unicast_is_beaconed_back() {
        let t0 = Instant::now();
        let mut m = mesh(&[]);
        m.heard(addr(4, 5000), Via::Unicast, t0);
        assert!(m.targets(t0).is_empty(), "multicast gets its grace first");
        let now = t0 + GRACE;
        assert_eq!(m.targets(now), vec![addr(4, 5000)]);
        // Its own beacons looped back, or ones on the group from a stranger, add nothing.
        m.heard(addr(1, 7268), Via::Unicast, now);
        m.heard(addr(5, 5000), Via::Group, now);
        assert_eq!(m.targets(now + GRACE), vec![addr(4, 5000)]);
    }

    #[test]
    fn an_address_heard_on_the_group_is_not_beaconed_by_unicast_while_multicast_works() {
        let t0 = Instant::now();
        let mut m = mesh(&[]);
        m.heard(addr(4, 5000), Via::Unicast, t0);
        m.heard(addr(4, 5000), Via::Group, t0);
        assert!(m.targets(t0 + GRACE).is_empty());
        // Multicast stops reaching it, unicast goes on: it is beaconed again.
        let later = t0 + STALE + Duration::from_millis(1);
        m.heard(addr(4, 5000), Via::Unicast, later);
        assert_eq!(m.targets(later), vec![addr(4, 5000)]);
    }

    #[test]
    fn silent_addresses_are_forgotten_and_seeds_are_kept() {
        let t0 = Instant::now();
        let seed = addr(2, 7268);
        let mut m = mesh(&[seed]);
        m.learn(&[addr(3, 7268)], &[], t0);
        m.heard(addr(4, 5000), Via::Unicast, t0);
        m.expire(t0 + STALE);
        assert_eq!(m.learned_len(), 2, "not yet stale");
        m.heard(addr(4, 5000), Via::Unicast, t0 + STALE);
        m.expire(t0 + STALE + Duration::from_millis(1));
        assert_eq!(m.targets(t0 + STALE), vec![seed, addr(4, 5000)]);
        m.left(addr(4, 5000));
        m.left(seed);
        assert_eq!(m.targets(t0 + STALE), vec![seed]);
    }

    #[test]
    fn the_mesh_is_bounded() {
        let now = Instant::now();
        let mut m = SeedMesh::new(addr(1, 7268), &[], 3, STALE, GRACE);
        let list: Vec<SocketAddr> = (10..20).map(|i| addr(i, 7268)).collect();
        assert_eq!(m.learn(&list, &[], now).len(), 3);
        m.heard(addr(30, 7268), Via::Unicast, now);
        assert_eq!(m.learned_len(), 3);
    }

    #[test]
    fn peer_lists_come_only_from_seeds_and_the_mesh() {
        let now = Instant::now();
        let seed = addr(2, 7268);
        let mut m = mesh(&[seed]);
        assert!(m.accepts_list_from(seed));
        assert!(!m.accepts_list_from(addr(6, 7268)));
        m.heard(addr(6, 7268), Via::Unicast, now);
        assert!(m.accepts_list_from(addr(6, 7268)));
    }

    #[test]
    fn a_peer_list_leaves_out_the_asker_and_itself_and_is_bounded_and_rotates() {
        let mut m = mesh(&[]);
        let asker = addr(7, 7268);
        assert_eq!(m.peer_list_for(asker, &[asker, addr(1, 7268)], 0), None);
        let known: Vec<SocketAddr> = (0..250u16)
            .map(|i| SocketAddr::from(([203, 0, 113, (i % 250) as u8 + 1], 7268 + i / 250)))
            .collect();
        let first = m.peer_list_for(asker, &known, 0).unwrap();
        assert_eq!(first.len(), MAX_PEER_ADDRS);
        let second = m.peer_list_for(asker, &known, MAX_PEER_ADDRS).unwrap();
        assert_eq!(second.len(), MAX_PEER_ADDRS);
        assert!(first.iter().all(|a| !second.contains(a)), "another window");
        let few = m.peer_list_for(asker, &known[..3], 7).unwrap();
        assert_eq!(few.len(), 3);
    }

    #[test]
    fn a_peer_list_is_due_after_the_grace_unless_multicast_served_the_newcomer() {
        let t0 = Instant::now();
        let mut m = mesh(&[]);
        let (blocked, served) = (addr(4, 5000), addr(5, 5000));
        for to in [blocked, served] {
            m.heard(to, Via::Unicast, t0);
            m.owe_list(to, t0);
        }
        m.owe_list(blocked, t0 + GRACE / 2);
        assert!(m.due_lists(t0 + GRACE / 2).is_empty());
        m.heard(served, Via::Group, t0 + GRACE / 2);
        assert_eq!(m.due_lists(t0 + GRACE), vec![blocked]);
        assert!(m.due_lists(t0 + GRACE * 2).is_empty(), "owed once");
    }

    #[test]
    fn lists_beyond_the_budget_stay_owed_for_the_next_heartbeat() {
        let t0 = Instant::now();
        let mut m = SeedMesh::new(addr(1, 7268), &[], 1024, STALE, GRACE);
        let n = PEER_LISTS_PER_HEARTBEAT as u16 + 5;
        for i in 0..n {
            m.heard(addr(50, 5000 + i), Via::Unicast, t0);
            m.owe_list(addr(50, 5000 + i), t0);
        }
        let first = m.due_lists(t0 + GRACE);
        assert_eq!(first.len(), PEER_LISTS_PER_HEARTBEAT as usize);
        for to in &first {
            m.peer_list_for(*to, &[addr(3, 7268)], 0).unwrap();
        }
        assert!(m.due_lists(t0 + GRACE).is_empty(), "budget spent");
        m.heard(addr(50, 5000 + n - 1), Via::Unicast, t0 + STALE);
        m.expire(t0 + STALE);
        assert_eq!(m.due_lists(t0 + STALE).len(), 5);
    }

    #[test]
    fn peer_lists_have_a_budget_per_heartbeat() {
        let now = Instant::now();
        let mut m = mesh(&[]);
        let known = [addr(3, 7268)];
        for i in 0..PEER_LISTS_PER_HEARTBEAT {
            assert!(m
                .peer_list_for(addr(100, 5000 + i as u16), &known, 0)
                .is_some());
        }
        assert_eq!(m.peer_list_for(addr(101, 5000), &known, 0), None);
        m.expire(now);
        assert!(m.peer_list_for(addr(101, 5000), &known, 0).is_some());
    }
}
