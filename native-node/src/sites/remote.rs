//! The peers of other sites, sans-IO: each site's gateway publishes its peer list ([`SiteSnapshot`]) on every
//! change and every heartbeat; [`RemoteSites::apply`] turns a list into joins, changes and leaves against the
//! last one, and [`RemoteSites::expire`] turns a site that went silent for [`RemoteSites::silence`] into
//! `lost` peers. The gateway task makes these peers proxied peers of its own LAN (keeping their node ids).
//!
//! A snapshot for this gateway's own site from another gateway is a second gateway for the site: the one that
//! started later refuses ([`RemoteError::SecondGateway`]); the earlier one keeps going and counts it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use herald_core::bridge::PeerInfo;
use herald_core::NodeId;
use serde::{Deserialize, Serialize};

/// Most peers of other sites one gateway proxies (the proxies' own bound, [`crate::proxies::MAX_PROXIED`]);
/// peers beyond it are left out and counted.
pub const MAX_REMOTE_PEERS: usize = crate::proxies::MAX_PROXIED;

/// A site's peer list as its gateway publishes it on `herald.v1.peers.<site>` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSnapshot {
    /// The site.
    pub site: String,
    /// Its gateway's node id.
    pub gateway: NodeId,
    /// When that gateway started (unix ms): of two gateways for one site, the later one stands down.
    pub started_ms: u64,
    /// How often the gateway publishes its list (ms); silence for [`SILENCE_BEATS`] of them means lost.
    pub heartbeat_ms: u32,
    /// The site's live peers (the gateway included), as its own LAN sees them (`site` unset).
    pub peers: Vec<PeerInfo>,
}

/// A site is lost after this many of its gateway's heartbeats without a peer list.
pub const SILENCE_BEATS: u32 = 3;

/// What changed among the peers of other sites (each with `site` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteChange {
    /// A peer appeared.
    Joined(PeerInfo),
    /// Its address, services or topics changed.
    Changed(PeerInfo),
    /// It left its site (gone from its gateway's list).
    Left(PeerInfo),
    /// Its site went silent.
    Lost(PeerInfo),
}

/// Why a peer list was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// This gateway's own list, echoed back.
    #[error("our own peer list")]
    Own,
    /// Another gateway serves this site and started first: this one must stand down.
    #[error(
        "gateway {gateway} already serves site {site:?} (started earlier); one gateway per site"
    )]
    SecondGateway {
        /// The site.
        site: String,
        /// The other gateway.
        gateway: NodeId,
    },
    /// Another gateway for this site started later (it stands down; this one carries on).
    #[error("gateway {gateway} also claims site {site:?}; it started later and should stand down")]
    LaterGateway {
        /// The site.
        site: String,
        /// The other gateway.
        gateway: NodeId,
    },
}

struct Site {
    gateway: NodeId,
    last_heard: Instant,
    silence: Duration,
    peers: BTreeMap<NodeId, PeerInfo>,
}

/// The peers of every other site, as their gateways last told. See the module doc.
pub struct RemoteSites {
    own_site: String,
    own_gateway: NodeId,
    own_started_ms: u64,
    sites: HashMap<String, Site>,
    /// Peers left out because [`MAX_REMOTE_PEERS`] were known (summed over all lists applied).
    pub refused: u64,
}

impl RemoteSites {
    /// An empty table for the gateway `own_gateway` of `own_site`, started at `own_started_ms`.
    pub fn new(own_site: &str, own_gateway: NodeId, own_started_ms: u64) -> Self {
        RemoteSites {
            own_site: own_site.to_owned(),
            own_gateway,
            own_started_ms,
            sites: HashMap::new(),
            refused: 0,
        }
    }

    /// How long a site may stay silent before its peers are lost: [`SILENCE_BEATS`] of its heartbeats.
    pub fn silence(heartbeat_ms: u32) -> Duration {
        Duration::from_millis(u64::from(heartbeat_ms.max(1)) * u64::from(SILENCE_BEATS))
    }

    /// Applies a site's peer list received at `now`.
    pub fn apply(
        &mut self,
        snapshot: SiteSnapshot,
        now: Instant,
    ) -> Result<Vec<RemoteChange>, RemoteError> {
        if snapshot.site == self.own_site {
            if snapshot.gateway == self.own_gateway {
                return Err(RemoteError::Own);
            }
            let earlier =
                (snapshot.started_ms, snapshot.gateway) < (self.own_started_ms, self.own_gateway);
            return Err(if earlier {
                RemoteError::SecondGateway {
                    site: snapshot.site,
                    gateway: snapshot.gateway,
                }
            } else {
                RemoteError::LaterGateway {
                    site: snapshot.site,
                    gateway: snapshot.gateway,
                }
            });
        }
        let others: usize = self
            .sites
            .iter()
            .filter(|(name, _)| **name != snapshot.site)
            .map(|(_, s)| s.peers.len())
            .sum();
        let mut room = MAX_REMOTE_PEERS.saturating_sub(others);
        let mut fresh = BTreeMap::new();
        for mut peer in snapshot.peers {
            if peer.site.is_some() || peer.node_id == self.own_gateway {
                continue; // another site's view of a third site, or of us: each site speaks for itself
            }
            if room == 0 {
                self.refused += 1;
                continue;
            }
            room -= 1;
            peer.site = Some(snapshot.site.clone());
            fresh.insert(peer.node_id, peer);
        }
        let site = self.sites.entry(snapshot.site).or_insert_with(|| Site {
            gateway: snapshot.gateway,
            last_heard: now,
            silence: Duration::ZERO,
            peers: BTreeMap::new(),
        });
        site.gateway = snapshot.gateway;
        site.last_heard = now;
        site.silence = Self::silence(snapshot.heartbeat_ms);
        let mut changes = Vec::new();
        for (id, old) in &site.peers {
            if !fresh.contains_key(id) {
                changes.push(RemoteChange::Left(old.clone()));
            }
        }
        for (id, peer) in &fresh {
            match site.peers.get(id) {
                None => changes.push(RemoteChange::Joined(peer.clone())),
                Some(old) if !same_visible(old, peer) => {
                    changes.push(RemoteChange::Changed(peer.clone()))
                }
                Some(_) => {}
            }
        }
        site.peers = fresh;
        Ok(changes)
    }

    /// Sites silent for longer than their silence: their peers are lost and the site forgotten (its next list
    /// brings them back as joins).
    pub fn expire(&mut self, now: Instant) -> Vec<RemoteChange> {
        let silent: Vec<String> = self
            .sites
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_heard) > s.silence)
            .map(|(name, _)| name.clone())
            .collect();
        let mut changes = Vec::new();
        for name in silent {
            if let Some(site) = self.sites.remove(&name) {
                tracing::warn!(
                    site = %name,
                    silent_ms = now.saturating_duration_since(site.last_heard).as_millis() as u64,
                    allowed_ms = site.silence.as_millis() as u64,
                    peers = site.peers.len(),
                    "no peer list from another site within its allowance (its gateway silent, or NATS out of reach from here): its peers are lost until one arrives"
                );
                changes.extend(site.peers.into_values().map(RemoteChange::Lost));
            }
        }
        changes
    }

    /// Every other site forgotten at once (the gateway is stopping): all their peers, lost.
    pub fn forget_all(&mut self) -> Vec<RemoteChange> {
        std::mem::take(&mut self.sites)
            .into_values()
            .flat_map(|site| site.peers.into_values().map(RemoteChange::Lost))
            .collect()
    }

    /// The peer `id` of another site.
    pub fn peer(&self, id: &NodeId) -> Option<&PeerInfo> {
        self.sites.values().find_map(|s| s.peers.get(id))
    }

    /// Every topic pattern some peer at another site subscribes to.
    pub fn interest(&self) -> BTreeSet<String> {
        self.sites
            .values()
            .flat_map(|s| s.peers.values())
            .flat_map(|p| p.topics.iter().cloned())
            .collect()
    }

    /// Peers of other sites known now.
    pub fn len(&self) -> usize {
        self.sites.values().map(|s| s.peers.len()).sum()
    }

    /// True when no other site's peer is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn same_visible(a: &PeerInfo, b: &PeerInfo) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.addr == b.addr
        && a.services == b.services
        && a.topics == b.topics
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::bridge::PeerState;
    use herald_core::PeerKind;

    fn peer(id: u8, name: &str, topics: &[&str]) -> PeerInfo {
        let addr = std::net::IpAddr::from([203, 0, 113, id]);
        PeerInfo {
            node_id: NodeId([id; 16]),
            name: name.into(),
            kind: PeerKind::Herald,
            addr,
            tcp: Some((addr, 4000).into()),
            services: BTreeMap::new(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            state: PeerState::Live,
        }
    }

    fn list(site: &str, gateway: u8, peers: Vec<PeerInfo>) -> SiteSnapshot {
        SiteSnapshot {
            site: site.into(),
            gateway: NodeId([gateway; 16]),
            started_ms: 10,
            heartbeat_ms: 1000,
            peers,
        }
    }

    fn names(changes: &[RemoteChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                RemoteChange::Joined(p) => format!("+{}", p.address()),
                RemoteChange::Changed(p) => format!("~{}", p.address()),
                RemoteChange::Left(p) => format!("-{}", p.address()),
                RemoteChange::Lost(p) => format!("?{}", p.address()),
            })
            .collect()
    }

    #[test]
    fn lists_become_joins_changes_and_leaves() {
        let mut t = RemoteSites::new("a", NodeId([1; 16]), 5);
        let t0 = Instant::now();
        let first = t.apply(
            list("b", 2, vec![peer(2, "gw", &[]), peer(3, "x", &["s.*"])]),
            t0,
        );
        assert_eq!(names(&first.unwrap()), ["+gw@b", "+x@b"]);
        assert_eq!(t.interest().into_iter().collect::<Vec<_>>(), ["s.*"]);
        let same = t.apply(
            list("b", 2, vec![peer(2, "gw", &[]), peer(3, "x", &["s.*"])]),
            t0,
        );
        assert!(same.unwrap().is_empty());
        let moved = t.apply(
            list("b", 2, vec![peer(2, "gw", &[]), peer(3, "x", &["t"])]),
            t0,
        );
        assert_eq!(names(&moved.unwrap()), ["~x@b"]);
        let left = t.apply(list("b", 2, vec![peer(2, "gw", &[])]), t0);
        assert_eq!(names(&left.unwrap()), ["-x@b"]);
        assert_eq!(t.peer(&NodeId([2; 16])).unwrap().site.as_deref(), Some("b"));
    }

    #[test]
    fn a_silent_site_is_lost_and_comes_back_as_joins() {
        let mut t = RemoteSites::new("a", NodeId([1; 16]), 5);
        let t0 = Instant::now();
        t.apply(list("b", 2, vec![peer(2, "gw", &[])]), t0).unwrap();
        assert!(t.expire(t0 + Duration::from_millis(2999)).is_empty());
        let lost = t.expire(t0 + Duration::from_millis(3001));
        assert_eq!(names(&lost), ["?gw@b"]);
        assert!(t.is_empty());
        let back = t.apply(
            list("b", 2, vec![peer(2, "gw", &[])]),
            t0 + Duration::from_secs(9),
        );
        assert_eq!(names(&back.unwrap()), ["+gw@b"]);
    }

    #[test]
    fn one_gateway_per_site_and_the_later_one_stands_down() {
        let mut t = RemoteSites::new("a", NodeId([1; 16]), 5);
        let now = Instant::now();
        assert_eq!(t.apply(list("a", 1, vec![]), now), Err(RemoteError::Own));
        let earlier = SiteSnapshot {
            started_ms: 4,
            ..list("a", 9, vec![])
        };
        assert!(matches!(
            t.apply(earlier, now),
            Err(RemoteError::SecondGateway { .. })
        ));
        assert!(matches!(
            t.apply(list("a", 9, vec![]), now),
            Err(RemoteError::LaterGateway { .. })
        ));
    }

    #[test]
    fn third_sites_and_ourselves_are_not_taken_from_a_list() {
        let mut t = RemoteSites::new("a", NodeId([1; 16]), 5);
        let mut third = peer(7, "z", &[]);
        third.site = Some("c".into());
        let changes = t.apply(
            list("b", 2, vec![third, peer(1, "me", &[]), peer(2, "gw", &[])]),
            Instant::now(),
        );
        assert_eq!(names(&changes.unwrap()), ["+gw@b"]);
    }
}
