//! The beacon task: one per node, owning its discovery sockets.
//!
//! It beacons at once on start and then every heartbeat (±10% jitter), and again whenever the node's advert
//! changes. A newcomer (or a restarted peer) is greeted with our beacon by unicast, so it learns of every node
//! within a round trip without anyone multicasting in reply: no storms when many nodes start together, and a
//! greeting budget per heartbeat bounds the work a flood of fake ids can cause. It answers service lookups
//! by unicast, expires silent peers, follows a named interface's address, and on shutdown sends the leave
//! beacon.
//!
//! Where multicast is blocked, every beacon (heartbeat, change, leave) also goes by unicast to the seeds and
//! the peers learned from them, as [`SeedMesh`] says; a newcomer's first unicast beacon is answered with our
//! beacon at once and a [`PeerList`] a little over a heartbeat later (unless multicast reached it meanwhile),
//! and a peer list from a seed (or a peer in the mesh) is greeted address by address.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use herald_core::discovery::{
    Beacon, DiscoveryMessage, LookupQuery, LookupReply, PeerList, ServiceProvider, MAX_DATAGRAM_LEN,
};
use herald_core::{EncodeError, NodeId};
use rand::Rng;
use tokio::net::UdpSocket;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::peers::Refusal;
use super::seeds::{SeedMesh, Via};
use super::sockets;
use crate::clock::unix_ms;
use crate::config::InterfaceSpec;
use crate::discovery::peers::PeerEvent;
use crate::events::{NameConflict, NodeEvent};
use crate::proxies::ProxiedPeer;
use crate::shared::Shared;
use crate::stats::bump;

/// Newcomers greeted per heartbeat at most; beyond it they learn of us from our next multicast beacon.
pub const GREETINGS_PER_HEARTBEAT: u32 = 256;

/// Largest datagram read; bigger than any valid one so oversized datagrams are seen (and counted) as such.
const RECV_BUFFER: usize = 2048;

/// Claimants of our name remembered (so each is told and logged once, not in a greeting ping-pong).
const CLAIMANTS_REMEMBERED: usize = 64;

/// How often a run of version mismatches is logged at `warn`.
const VERSION_LOG_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct BeaconTask {
    shared: Arc<Shared>,
    group: UdpSocket,
    unicast: UdpSocket,
    local_ip: Ipv4Addr,
    /// The seeds as resolved at start (the mesh leaves this node itself out).
    seeds: Vec<SocketAddr>,
    mesh: SeedMesh,
    seq: u64,
    greetings_left: u32,
    version_drops_logged: u64,
    version_logged_at: Option<Instant>,
    claimants_told: HashSet<(NodeId, u64)>,
}

impl BeaconTask {
    pub(crate) fn new(
        shared: Arc<Shared>,
        group: UdpSocket,
        unicast: UdpSocket,
        local_ip: Ipv4Addr,
        seeds: Vec<SocketAddr>,
    ) -> Self {
        let config = &shared.config;
        let stale_after =
            (config.heartbeat * config.expiry_beats.max(1) * 2).max(Duration::from_secs(1));
        let own = own_addr(&unicast, local_ip);
        let grace = config.heartbeat.mul_f64(1.2);
        let mesh = SeedMesh::new(own, &seeds, config.max_peers, stale_after, grace);
        if !seeds.is_empty() {
            tracing::info!(seeds = ?mesh.seeds(), %own, "beaconing to seeds by unicast too");
        }
        BeaconTask {
            shared,
            group,
            unicast,
            local_ip,
            seeds,
            mesh,
            seq: 0,
            greetings_left: GREETINGS_PER_HEARTBEAT,
            version_drops_logged: 0,
            version_logged_at: None,
            claimants_told: HashSet::new(),
        }
    }

    #[tracing::instrument(name = "beacon", skip_all, fields(node = %self.shared.config.name))]
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let heartbeat = self.shared.config.heartbeat;
        self.beacon_everywhere(false).await;
        let mut next_beacon = Instant::now() + jittered(heartbeat);
        let mut expiry = tokio::time::interval((heartbeat / 4).max(Duration::from_millis(10)));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut group_buf = vec![0u8; RECV_BUFFER];
        let mut unicast_buf = vec![0u8; RECV_BUFFER];
        loop {
            enum Step {
                Stop,
                Heartbeat,
                Announce,
                Expire,
                Group(std::io::Result<(usize, SocketAddr)>),
                Unicast(std::io::Result<(usize, SocketAddr)>),
            }
            let step = tokio::select! {
                _ = shutdown.cancelled() => Step::Stop,
                _ = sleep_until(next_beacon) => Step::Heartbeat,
                _ = self.shared.announce.notified() => Step::Announce,
                _ = expiry.tick() => Step::Expire,
                r = self.group.recv_from(&mut group_buf) => Step::Group(r),
                r = self.unicast.recv_from(&mut unicast_buf) => Step::Unicast(r),
            };
            match step {
                Step::Stop => break,
                Step::Heartbeat => {
                    self.follow_interface();
                    self.log_version_drops();
                    self.greetings_left = GREETINGS_PER_HEARTBEAT;
                    self.mesh.expire(Instant::now().into_std());
                    self.beacon_everywhere(false).await;
                    next_beacon = Instant::now() + jittered(heartbeat);
                }
                Step::Announce => self.beacon_everywhere(false).await,
                Step::Expire => {
                    self.expire();
                    for to in self.mesh.due_lists(Instant::now().into_std()) {
                        self.send_peer_list(to).await;
                    }
                }
                Step::Group(Ok((len, from))) => {
                    self.handle(&group_buf[..len], from, Via::Group).await
                }
                Step::Unicast(Ok((len, from))) => {
                    self.handle(&unicast_buf[..len], from, Via::Unicast).await
                }
                Step::Group(Err(err)) | Step::Unicast(Err(err)) => {
                    tracing::debug!(%err, "discovery receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        // Leave gracefully; twice, as one datagram may be lost on a busy LAN and the second costs nothing.
        for _ in 0..2 {
            self.beacon_everywhere(true).await;
        }
    }

    /// Sends this node's beacon to the group, then by unicast to every seed and learned peer of the mesh.
    async fn beacon_everywhere(&mut self, leaving: bool) {
        let group = SocketAddr::V4(self.shared.config.group);
        self.send_beacon(group, leaving).await;
        for to in self.mesh.targets(Instant::now().into_std()) {
            self.send_beacon(to, leaving).await;
        }
    }

    async fn handle(&mut self, bytes: &[u8], from: SocketAddr, via: Via) {
        let now_ms = unix_ms();
        let config = &self.shared.config;
        let Some(message) = super::open(
            bytes,
            from,
            config.key.as_ref(),
            config.replay_window,
            now_ms,
            &self.shared.counters,
        ) else {
            return;
        };
        match message {
            DiscoveryMessage::Beacon(beacon) => self.on_beacon(&beacon, from, now_ms, via).await,
            DiscoveryMessage::Lookup(query) => self.on_lookup(&query, from).await,
            // Replies go to one-shot lookups' own sockets; a node has nothing to do with one.
            DiscoveryMessage::LookupReply(_) => {}
            DiscoveryMessage::PeerList(list) => self.on_peer_list(&list, from, via).await,
        }
    }

    async fn on_beacon(&mut self, beacon: &Beacon, from: SocketAddr, now_ms: u64, via: Via) {
        let now = Instant::now().into_std();
        let result = self.shared.table().apply(beacon, from, now, now_ms);
        // The mesh follows the sockets beacons come from (a gateway's for its proxied peers).
        match (&result, beacon.leaving) {
            (Ok(_) | Err(Refusal::Stale), false) => self.mesh.heard(from, via, now),
            (Ok(_), true) if beacon.via.is_none() => self.mesh.left(from),
            _ => {}
        }
        let counters = &self.shared.counters;
        match result {
            Ok(applied) => {
                if let Some(event) = applied.event {
                    self.peer_event(event);
                }
                if applied.greet {
                    self.greet(from).await;
                    if via == Via::Unicast && beacon.via.is_none() {
                        self.mesh.owe_list(from, now);
                    }
                }
            }
            Err(Refusal::Own | Refusal::Stale | Refusal::UnknownLeaving) => {}
            Err(Refusal::TableFull) => {
                bump(&counters.refused_table_full);
                tracing::debug!(peer = %beacon.name, %from, "peer table full, new peer refused");
            }
            Err(Refusal::NameTaken { holder }) => {
                bump(&counters.refused_name_taken);
                tracing::debug!(name = %beacon.name, claimant = %beacon.node_id, %holder, %from, "name already taken, beacon refused");
            }
            Err(Refusal::ClaimsOurName) => {
                bump(&counters.claims_our_name);
                if beacon.leaving || !self.remember_claimant(beacon) {
                    return;
                }
                tracing::warn!(name = %beacon.name, claimant = %beacon.node_id, %from, "another node claims this node's name");
                let conflict = NameConflict {
                    name: beacon.name.clone(),
                    claimant: beacon.node_id,
                    addr: from,
                };
                self.shared.note_conflict(conflict.clone());
                self.shared.emit(NodeEvent::NameConflict(conflict));
                // Tell the claimant at once that the name is taken.
                self.greet(from).await;
            }
        }
    }

    /// The one path of every change to the peer table: messaging follows it, then the node's readers hear of
    /// it.
    fn peer_event(&self, event: PeerEvent) {
        tracing::debug!(peer = %event.peer.name, change = ?event.change, "peer event");
        crate::messaging::on_peer_event(&self.shared, &event);
        self.shared.emit(NodeEvent::Peer(event));
    }

    /// True the first time this claimant (id and run) is seen; the memory is bounded.
    fn remember_claimant(&mut self, beacon: &Beacon) -> bool {
        if self.claimants_told.len() >= CLAIMANTS_REMEMBERED {
            self.claimants_told.clear();
        }
        self.claimants_told
            .insert((beacon.node_id, beacon.incarnation))
    }

    /// Answers a lookup for a service this node provides, or one of the peers it proxies.
    async fn on_lookup(&mut self, query: &LookupQuery, from: SocketAddr) {
        let config = &self.shared.config;
        let own = self.shared.advert().services.get(&query.service).copied();
        let mut providers: Vec<ServiceProvider> = own
            .map(|port| ServiceProvider {
                node_id: self.shared.node_id,
                name: config.name.clone(),
                addr: SocketAddr::new(self.local_ip.into(), port),
                site: None,
            })
            .into_iter()
            .collect();
        providers.extend(
            self.shared
                .proxies
                .providers(&query.service)
                .into_iter()
                .map(|(node_id, name, addr, site)| ServiceProvider {
                    node_id,
                    name,
                    addr,
                    site,
                }),
        );
        if providers.is_empty() {
            return;
        }
        let reply = DiscoveryMessage::LookupReply(LookupReply {
            query_id: query.query_id,
            service: query.service.clone(),
            providers,
        });
        match super::seal(&reply, config.key.as_ref(), unix_ms()) {
            Ok(bytes) => {
                self.send(&bytes, from).await;
                bump(&self.shared.counters.lookups_answered);
            }
            Err(err) => tracing::warn!(%err, "cannot encode a lookup reply"),
        }
    }

    /// Answers a newcomer's first unicast beacon with the discovery sockets of the peers this node knows (a
    /// bounded window of them), so it can greet them itself.
    async fn send_peer_list(&mut self, to: SocketAddr) {
        let known = self.shared.table().sources();
        let offset = rand::thread_rng().gen::<usize>();
        let Some(addrs) = self.mesh.peer_list_for(to, &known, offset) else {
            return;
        };
        let count = addrs.len();
        let list = DiscoveryMessage::PeerList(PeerList { addrs });
        match super::seal(&list, self.shared.config.key.as_ref(), unix_ms()) {
            Ok(bytes) => {
                if self.send(&bytes, to).await {
                    bump(&self.shared.counters.peer_lists_sent);
                    tracing::debug!(%to, count, "peer list sent");
                }
            }
            Err(err) => tracing::warn!(%err, "cannot encode a peer list"),
        }
    }

    /// A peer list: from a seed (or a peer of the mesh), its addresses join the mesh and are greeted at once;
    /// from anyone else, or on the group, it is ignored and counted.
    async fn on_peer_list(&mut self, list: &PeerList, from: SocketAddr, via: Via) {
        if via != Via::Unicast || !self.mesh.accepts_list_from(from) {
            bump(&self.shared.counters.peer_lists_ignored);
            tracing::debug!(%from, ?via, "peer list from neither a seed nor a peer of the mesh ignored");
            return;
        }
        bump(&self.shared.counters.peer_lists_received);
        let known = self.shared.table().sources();
        let new = self
            .mesh
            .learn(&list.addrs, &known, Instant::now().into_std());
        tracing::debug!(%from, listed = list.addrs.len(), new = new.len(), "peer list received");
        for to in new {
            self.greet(to).await;
        }
    }

    async fn greet(&mut self, to: SocketAddr) {
        if self.greetings_left == 0 {
            bump(&self.shared.counters.greetings_skipped);
            return;
        }
        self.greetings_left -= 1;
        bump(&self.shared.counters.greetings_sent);
        self.send_beacon(to, false).await;
    }

    fn expire(&mut self) {
        let lost = self
            .shared
            .table()
            .expire(Instant::now().into_std(), unix_ms());
        for event in lost {
            self.peer_event(event);
        }
    }

    /// Sends this node's beacon to `to`, then one per peer it proxies; sent to the group, the proxied beacons
    /// are applied to this node's own table too (its own copies may not loop back), and removed proxied peers'
    /// leave beacons go out first.
    async fn send_beacon(&mut self, to: SocketAddr, leaving: bool) {
        self.seq += 1;
        let advert = self.shared.advert().clone();
        let beacon = Beacon {
            node_id: self.shared.node_id,
            name: self.shared.config.name.clone(),
            kind: self.shared.config.kind,
            incarnation: self.shared.incarnation,
            seq: self.seq,
            tcp_port: advert.tcp_port,
            services: advert.services.clone(),
            topics: advert.topics.clone(),
            more_topics: false,
            heartbeat_ms: self.heartbeat_ms(),
            leaving,
            via: None,
            addr: None,
            site: None,
            txt: BTreeMap::new(),
        };
        let Some(bytes) = self.seal_fitting(beacon) else {
            return;
        };
        if self.send(&bytes, to).await {
            bump(&self.shared.counters.beacons_sent);
        }
        self.send_proxied(to, leaving, advert.tcp_port).await;
    }

    /// This node's heartbeat as beacons carry it.
    fn heartbeat_ms(&self) -> u32 {
        let heartbeat = self.shared.config.heartbeat.as_millis();
        heartbeat.min(u128::from(u32::MAX)) as u32
    }

    /// This node's beacon sealed, with as many of its topics as fit in one datagram (`more_topics` says the
    /// rest travel over links).
    fn seal_fitting(&self, mut beacon: Beacon) -> Option<Vec<u8>> {
        let key = self.shared.config.key.as_ref();
        loop {
            match super::seal(&DiscoveryMessage::Beacon(beacon.clone()), key, unix_ms()) {
                Ok(bytes) => return Some(bytes),
                // Too many topics for one datagram: send fewer.
                Err(EncodeError::TooLarge { .. }) if !beacon.topics.is_empty() => {
                    let keep = beacon.topics.len() / 2;
                    beacon.topics.truncate(keep);
                    beacon.more_topics = true;
                }
                Err(err) => {
                    tracing::error!(%err, max = MAX_DATAGRAM_LEN, "cannot encode this node's beacon");
                    return None;
                }
            }
        }
    }

    /// Sends the beacons of the peers this node proxies to `to` (their links come to this node's `tcp_port`
    /// when they take messages); to the group, removed ones' leave beacons go first, and each is applied to
    /// this node's own table too.
    async fn send_proxied(&mut self, to: SocketAddr, leaving: bool, tcp_port: u16) {
        let to_group = to == SocketAddr::V4(self.shared.config.group);
        let mut proxied: Vec<(NodeId, ProxiedPeer, bool, bool)> = Vec::new();
        if to_group {
            proxied.extend(
                self.shared
                    .proxies
                    .take_leaving()
                    .into_iter()
                    .map(|(id, peer)| (id, peer, false, true)),
            );
        }
        proxied.extend(
            self.shared
                .proxies
                .live()
                .into_iter()
                .map(|(id, peer, takes_messages)| (id, peer, takes_messages, leaving)),
        );
        for (id, peer, takes_messages, leaving) in proxied {
            self.seq += 1;
            let beacon = Beacon {
                node_id: id,
                name: peer.name,
                kind: peer.kind,
                incarnation: self.shared.incarnation,
                seq: self.seq,
                tcp_port: if takes_messages { tcp_port } else { 0 },
                services: peer.services,
                topics: Vec::new(),
                more_topics: false,
                heartbeat_ms: self.heartbeat_ms(),
                leaving,
                via: Some(self.shared.node_id),
                addr: Some(peer.addr),
                site: peer.site,
                txt: peer.txt,
            };
            let key = self.shared.config.key.as_ref();
            match super::seal(&DiscoveryMessage::Beacon(beacon.clone()), key, unix_ms()) {
                Ok(bytes) => {
                    if self.send(&bytes, to).await {
                        bump(&self.shared.counters.beacons_sent);
                    }
                }
                Err(err) => {
                    tracing::warn!(peer = %beacon.name, %err, "cannot encode a proxied peer's beacon");
                    continue;
                }
            }
            if to_group {
                let from = SocketAddr::new(self.local_ip.into(), 0);
                self.apply_proxied(&beacon, from);
            }
        }
    }

    /// Applies a beacon this node sent for a peer it proxies to its own table (no greeting: it is ours).
    fn apply_proxied(&self, beacon: &Beacon, from: SocketAddr) {
        let result = self
            .shared
            .table()
            .apply(beacon, from, Instant::now().into_std(), unix_ms());
        match result {
            Ok(applied) => {
                if let Some(event) = applied.event {
                    self.peer_event(event);
                }
            }
            Err(Refusal::NameTaken { holder }) => {
                bump(&self.shared.counters.refused_name_taken);
                tracing::warn!(name = %beacon.name, %holder, "a proxied peer's name is taken by another peer");
            }
            Err(_) => {}
        }
    }

    async fn send(&self, bytes: &[u8], to: SocketAddr) -> bool {
        match self.unicast.send_to(bytes, to).await {
            Ok(sent) => {
                self.shared
                    .counters
                    .bytes_sent
                    .fetch_add(sent as u64, Ordering::Relaxed);
                true
            }
            Err(err) => {
                bump(&self.shared.counters.send_errors);
                tracing::debug!(%to, %err, "discovery send failed");
                false
            }
        }
    }

    /// With a named interface or the LAN default (not a fixed address), notices a new address and moves both
    /// sockets to it; peers then see this node `Changed` with its old address.
    fn follow_interface(&mut self) {
        let config = &self.shared.config;
        if matches!(config.interface, InterfaceSpec::Addr(_)) {
            return;
        }
        let ip = match sockets::resolve(&config.interface, config.group) {
            Ok(ip) if ip != self.local_ip => ip,
            Ok(_) => return,
            Err(err) => {
                tracing::debug!(%err, "interface has no address now");
                return;
            }
        };
        let port = config.discovery_port.unwrap_or(config.group.port());
        match (
            sockets::group_socket(config.group, ip),
            sockets::discovery_socket(ip, port),
        ) {
            (Ok(group), Ok((unicast, got_port))) => {
                tracing::info!(old = %self.local_ip, new = %ip, "interface address changed");
                if !got_port {
                    tracing::info!(%ip, wanted = port, "discovery port taken on the new address: using an ephemeral port");
                }
                self.mesh.set_own(own_addr(&unicast, ip), &self.seeds);
                self.group = group;
                self.unicast = unicast;
                self.local_ip = ip;
                self.shared.set_local_ip(ip);
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(%ip, %err, "cannot move discovery to the new address")
            }
        }
    }

    fn log_version_drops(&mut self) {
        let drops = self.shared.counters.dropped_version.load(Ordering::Relaxed);
        let due = self
            .version_logged_at
            .is_none_or(|at| at.elapsed() >= VERSION_LOG_EVERY);
        if drops > self.version_drops_logged && due {
            tracing::warn!(
                dropped = drops - self.version_drops_logged,
                "beacons of another protocol version ignored (a host runs another Herald version)"
            );
            self.version_drops_logged = drops;
            self.version_logged_at = Some(Instant::now());
        }
    }
}

/// Where this node's unicast socket is bound (its address as a seed).
fn own_addr(unicast: &UdpSocket, local_ip: Ipv4Addr) -> SocketAddr {
    unicast
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(local_ip.into(), 0))
}

/// `interval` ±10%.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
}
