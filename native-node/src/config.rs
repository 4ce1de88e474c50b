//! [`NodeConfig`]: everything a node is started with, with the documented defaults. The CLI fills it from
//! flags and the TOML config file; library users build it directly.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::time::Duration;

use herald_core::discovery::{DEFAULT_GROUP, DEFAULT_PORT};
use herald_core::{NodeId, PeerKind};

use crate::auth::{Key, DEFAULT_REPLAY_WINDOW_MS};
use crate::discovery::peers::DEFAULT_MAX_PEERS;
use crate::link::listener::DEFAULT_MAX_LINKS;
use crate::questions::DEFAULT_MAX_PENDING;
use crate::queue::OverflowPolicy;

/// Default heartbeat: one beacon a second.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// Default expiry: a peer is lost after this many of its heartbeats without a beacon.
pub const DEFAULT_EXPIRY_BEATS: u32 = 3;
/// Default time a starting node listens for another live node using its name before it goes on.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_millis(300);
/// Default capacity of the node's event stream; a reader that falls further behind gets a lag notice.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;
/// Default bound on questions answered at once; beyond it a question is answered `Failed("busy")` at once.
pub const DEFAULT_MAX_CONCURRENT_ANSWERS: usize = 64;

/// Which interface discovery uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InterfaceSpec {
    /// The LAN: the address the routing table uses for the group (else the first non-loopback IPv4 address,
    /// else loopback), followed as it changes.
    #[default]
    Lan,
    /// A fixed address (e.g. `127.0.0.1`).
    Addr(Ipv4Addr),
    /// An interface by name (e.g. `eth0`); its address is followed as it changes.
    Name(String),
}

impl FromStr for InterfaceSpec {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<Ipv4Addr>() {
            Ok(ip) => InterfaceSpec::Addr(ip),
            Err(_) if s.is_empty() || s == "lan" => InterfaceSpec::Lan,
            Err(_) => InterfaceSpec::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for InterfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceSpec::Lan => f.write_str("lan"),
            InterfaceSpec::Addr(ip) => write!(f, "{ip}"),
            InterfaceSpec::Name(name) => f.write_str(name),
        }
    }
}

/// A seed: `HOST[:PORT]`, the port defaulting to [`DEFAULT_PORT`] (7268). The host is an IPv4 address or a
/// name, resolved when the node starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Address or host name.
    pub host: String,
    /// UDP port of the seed's discovery socket.
    pub port: u16,
}

/// Why a `--seed` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Empty, or an empty host.
    #[error("a seed needs a host")]
    NoHost,
    /// The part after the last `:` is not a port.
    #[error("{0:?} is not a port (1 to 65535)")]
    BadPort(String),
}

impl FromStr for Seed {
    type Err = SeedError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) if port != 0 => (host, port),
                _ => return Err(SeedError::BadPort(port.to_owned())),
            },
            None => (s, DEFAULT_PORT),
        };
        if host.is_empty() {
            return Err(SeedError::NoHost);
        }
        Ok(Seed {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// How a node is started.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Unique name on the LAN.
    pub name: String,
    /// What sort of node this is (`herald`, or `cli` for one-shots).
    pub kind: PeerKind,
    /// Fixed id; `None` takes the id stored for `name` in the state directory.
    pub node_id: Option<NodeId>,
    /// Interface for discovery.
    pub interface: InterfaceSpec,
    /// Multicast group and port.
    pub group: SocketAddrV4,
    /// UDP port of this node's unicast discovery socket on its interface's address, where others reach it
    /// as a seed; taken when free there, else an ephemeral port (logged). `None`: the group's port (7268 by
    /// default); 0: an ephemeral port.
    pub discovery_port: Option<u16>,
    /// Seeds: also beacon to these by unicast, and learn the peers they know (see
    /// [`crate::discovery::seeds`]). This node itself is ignored as a seed.
    pub seeds: Vec<Seed>,
    /// Interval between beacons (each one jittered by ±10%).
    pub heartbeat: Duration,
    /// A peer is lost after this many of its heartbeats without a beacon.
    pub expiry_beats: u32,
    /// Advertised services, `name -> port` at this node's address.
    pub services: BTreeMap<String, u16>,
    /// Subscribed topics announced in beacons.
    pub topics: Vec<String>,
    /// Port the link listener binds (0: an ephemeral port); announced in beacons.
    pub tcp_port: u16,
    /// What a full outbound link queue does (see [`crate::queue::OverflowPolicy`]).
    pub overflow: OverflowPolicy,
    /// As a publisher, at most this many subscribers per topic pattern (first come, first served); the
    /// others are refused with `Refused { SubscriberLimit }` and admitted when one goes away. `None`: no bound.
    pub subscriber_limit: Option<u32>,
    /// Shared secret: sign and require signed datagrams.
    pub key: Option<Key>,
    /// Signed datagrams older or newer than this are refused as replays.
    pub replay_window: Duration,
    /// Bound on the peer table (see [`crate::discovery::peers`] for what happens when full).
    pub max_peers: usize,
    /// How long start-up listens for another live node with this name (0: do not wait).
    pub claim_wait: Duration,
    /// Capacity of the event stream.
    pub event_capacity: usize,
    /// Links other nodes may hold open to this one at once (handshakes included); more wait to be accepted.
    pub max_links: usize,
    /// Questions this node may have in flight at once; asking more fails with `TooManyPending`.
    pub max_pending_questions: usize,
    /// Questions this node answers at once; more are answered `Failed("busy")` straight away.
    pub max_concurrent_answers: usize,
}

impl NodeConfig {
    /// A node named `name` with every default: LAN interface, group `239.255.72.68:7268`, 1 s heartbeat,
    /// lost after 3 heartbeats, no services, no key.
    pub fn new(name: impl Into<String>) -> Self {
        NodeConfig {
            name: name.into(),
            kind: PeerKind::Herald,
            node_id: None,
            interface: InterfaceSpec::Lan,
            group: SocketAddrV4::new(DEFAULT_GROUP, DEFAULT_PORT),
            discovery_port: None,
            seeds: Vec::new(),
            heartbeat: DEFAULT_HEARTBEAT,
            expiry_beats: DEFAULT_EXPIRY_BEATS,
            services: BTreeMap::new(),
            topics: Vec::new(),
            tcp_port: 0,
            overflow: OverflowPolicy::default(),
            key: None,
            replay_window: Duration::from_millis(DEFAULT_REPLAY_WINDOW_MS),
            max_peers: DEFAULT_MAX_PEERS,
            subscriber_limit: None,
            claim_wait: DEFAULT_CLAIM_WAIT,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            max_links: DEFAULT_MAX_LINKS,
            max_pending_questions: DEFAULT_MAX_PENDING,
            max_concurrent_answers: DEFAULT_MAX_CONCURRENT_ANSWERS,
        }
    }

    /// The same, pinned to loopback on `port` of the default group: what tests and the quick-start use.
    pub fn loopback(name: impl Into<String>, port: u16) -> Self {
        NodeConfig {
            interface: InterfaceSpec::Addr(Ipv4Addr::LOCALHOST),
            group: SocketAddrV4::new(DEFAULT_GROUP, port),
            ..NodeConfig::new(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_as_addresses_or_names() {
        assert_eq!(
            "127.0.0.1".parse(),
            Ok(InterfaceSpec::Addr(Ipv4Addr::LOCALHOST))
        );
        assert_eq!("eth0".parse(), Ok(InterfaceSpec::Name("eth0".into())));
        assert_eq!("lan".parse(), Ok(InterfaceSpec::Lan));
    }

    #[test]
    fn seeds_parse_with_the_default_port() {
        let seed = |host: &str, port| Seed {
            host: host.into(),
            port,
        };
        assert_eq!("198.51.100.7".parse(), Ok(seed("198.51.100.7", 7268)));
        assert_eq!("198.51.100.7:9000".parse(), Ok(seed("198.51.100.7", 9000)));
        assert_eq!("gw.lan".parse(), Ok(seed("gw.lan", 7268)));
        assert_eq!("".parse::<Seed>(), Err(SeedError::NoHost));
        assert_eq!(":7268".parse::<Seed>(), Err(SeedError::NoHost));
        assert_eq!("h:x".parse::<Seed>(), Err(SeedError::BadPort("x".into())));
        assert_eq!("h:0".parse::<Seed>(), Err(SeedError::BadPort("0".into())));
        assert_eq!(seed("h", 1).to_string(), "h:1");
    }
}
