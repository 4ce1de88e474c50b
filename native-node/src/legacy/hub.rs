//! The Twisted hub gateway (`herald node --hub`): old hub clients and services keep working with a Herald node
//! in the hub's place.
//!
//! It listens where the old hub did (UDP port 8888, group 224.0.0.1, on the node's interface only) and answers
//! by unicast from that port:
//! - `TwistedUDPClient:SERVICE`: any service in Herald's LAN-wide registry (or registered here) as
//!   `SERVICE:IP:PORT` (the documented reply, not the old hub's two-character bug), else
//!   `Active Service Exception: SERVICE null:null`;
//! - `TwistedHubService:SERVICE:IP:PORT`: stored, and the service becomes a `twisted-hub` peer of the same name
//!   proxied by this node, so `herald lookup`, the bridge and the dashboard see it; kept until removed, in a
//!   JSON file that survives restarts;
//! - `TwistedHubServiceRemove:SERVICE:IP:PORT`: removed (an unknown service gets no reply, as before).
//!
//! Anything else is counted in `legacy.hub.rejected` and logged at debug level.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;

use herald_core::legacy::hub::{HubReply, HubRequest, GROUP, PORT};
use herald_core::{NodeId, PeerKind};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{udp_port_socket, LegacyError};
use crate::discovery::sockets;
use crate::node::Node;
use crate::proxies::{ProxiedPeer, MAX_PROXIED};
use crate::stats::bump;

/// The hub's group and port, as the old hub and its clients have them.
pub const DEFAULT_HUB_ADDR: SocketAddrV4 = SocketAddrV4::new(GROUP, PORT);

/// Largest datagram read; longer ones are cut (and then fail to parse).
const RECV_BUFFER: usize = 1500;

/// Where and how the hub gateway runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The group and port requests come to ([`DEFAULT_HUB_ADDR`]); the same port takes unicast requests.
    pub addr: SocketAddrV4,
    /// The file that keeps registrations across restarts (`{"SERVICE": "IP:PORT"}`).
    pub registry: PathBuf,
}

impl HubConfig {
    /// The old hub's address, with the registry in the default state directory, one file per node name.
    pub fn new(node_name: &str) -> HubConfig {
        HubConfig::in_state_dir(&crate::identity::state_dir(), node_name)
    }

    /// The same, with the registry in the state directory `dir` (`--state-dir`).
    pub fn in_state_dir(dir: &std::path::Path, node_name: &str) -> HubConfig {
        let file = format!(
            "twisted-hub-{}.json",
            node_name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                })
                .collect::<String>()
        );
        HubConfig {
            addr: DEFAULT_HUB_ADDR,
            registry: dir.join(file),
        }
    }
}

/// The hub task: its two sockets, and the services registered through it.
pub struct Hub {
    node: Arc<Node>,
    group: UdpSocket,
    unicast: UdpSocket,
    config: HubConfig,
    registered: BTreeMap<String, (SocketAddrV4, NodeId)>,
}

impl Hub {
    /// Opens the hub's sockets on the node's interface and restores the registry file's services.
    pub async fn bind(node: Arc<Node>, config: HubConfig) -> Result<Hub, LegacyError> {
        let iface = node.local_ip();
        let group = sockets::group_socket(config.addr, iface).map_err(LegacyError::socket(
            "twisted hub",
            format!("group {} on {iface}", config.addr),
        ))?;
        let unicast = udp_port_socket(SocketAddrV4::new(iface, config.addr.port())).map_err(
            LegacyError::socket("twisted hub", format!("UDP {iface}:{}", config.addr.port())),
        )?;
        let mut hub = Hub {
            node,
            group,
            unicast,
            config,
            registered: BTreeMap::new(),
        };
        for (service, addr) in read_registry(&hub.config.registry)? {
            hub.register(service, addr);
        }
        tracing::info!(addr = %hub.config.addr, %iface, services = hub.registered.len(), "twisted hub gateway listening");
        Ok(hub)
    }

    /// Answers requests until `shutdown`; then the registered services stop being proxied (they stay in the
    /// file for the next start).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut group_buf = vec![0u8; RECV_BUFFER];
        let mut unicast_buf = vec![0u8; RECV_BUFFER];
        loop {
            let (bytes, from) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.group.recv_from(&mut group_buf) => match r {
                    Ok((len, from)) => (group_buf[..len].to_vec(), from),
                    Err(err) => { tracing::debug!(%err, "hub receive failed"); continue; }
                },
                r = self.unicast.recv_from(&mut unicast_buf) => match r {
                    Ok((len, from)) => (unicast_buf[..len].to_vec(), from),
                    Err(err) => { tracing::debug!(%err, "hub receive failed"); continue; }
                },
            };
            if let Some(reply) = self.handle(&bytes, from) {
                if let Err(err) = self.unicast.send_to(&reply.encode(), from).await {
                    tracing::debug!(%from, %err, "hub reply not sent");
                }
            }
        }
        for (_, id) in self.registered.values() {
            self.node.unproxy(*id);
        }
    }

    /// What a datagram from `from` does, and the reply it gets (if any).
    fn handle(&mut self, bytes: &[u8], from: SocketAddr) -> Option<HubReply> {
        let node = self.node.clone();
        let counters = node.legacy_counters();
        let request = match HubRequest::decode(bytes) {
            Ok(request) => request,
            Err(err) => {
                bump(&counters.hub_rejected);
                tracing::debug!(%from, %err, len = bytes.len(), "twisted hub datagram refused");
                return None;
            }
        };
        match request {
            HubRequest::Lookup { service } => Some(match self.find(&service) {
                Some(addr) => {
                    bump(&counters.hub_lookups);
                    HubReply::Found { service, addr }
                }
                None => {
                    bump(&counters.hub_misses);
                    HubReply::NotFound { service }
                }
            }),
            HubRequest::Register { service, addr } => {
                if !self.registered.contains_key(&service) && self.registered.len() >= MAX_PROXIED {
                    bump(&counters.hub_rejected);
                    tracing::warn!(%service, %from, max = MAX_PROXIED, "twisted hub registry full; registration refused");
                    return None;
                }
                if !self.register(service.clone(), addr) {
                    bump(&counters.hub_rejected);
                    return None;
                }
                bump(&counters.hub_registrations);
                tracing::info!(%service, %addr, %from, "twisted hub service registered");
                self.save();
                Some(HubReply::Registered)
            }
            HubRequest::Remove { service, .. } => match self.registered.remove(&service) {
                Some((addr, id)) => {
                    self.node.unproxy(id);
                    bump(&counters.hub_removals);
                    tracing::info!(%service, %addr, %from, "twisted hub service removed");
                    self.save();
                    Some(HubReply::Removed)
                }
                None => {
                    bump(&counters.hub_rejected);
                    tracing::debug!(%service, %from, "removal of an unknown twisted hub service; no reply (as the old hub)");
                    None
                }
            },
        }
    }

    /// Where `service` is: registered here, else anywhere in Herald's registry (IPv4 first).
    fn find(&self, service: &str) -> Option<SocketAddr> {
        if let Some((addr, _)) = self.registered.get(service) {
            return Some(SocketAddr::V4(*addr));
        }
        let found = self.node.lookup(service);
        found
            .iter()
            .find(|a| a.is_ipv4())
            .or(found.first())
            .copied()
    }

    /// Stores `service` and proxies it as a `twisted-hub` peer; false if the node refuses (its proxy bound).
    fn register(&mut self, service: String, addr: SocketAddrV4) -> bool {
        let peer = ProxiedPeer {
            name: service.clone(),
            kind: PeerKind::TwistedHub,
            addr: IpAddr::V4(*addr.ip()),
            services: [(service.clone(), addr.port())].into(),
            site: None,
            txt: Default::default(),
        };
        match self.node.proxy(peer, None) {
            Ok(id) => {
                self.registered.insert(service, (addr, id));
                true
            }
            Err(err) => {
                tracing::warn!(%service, %err, "twisted hub service not proxied");
                false
            }
        }
    }

    /// Rewrites the registry file (atomically); a failure is logged, the registry in memory stays right.
    fn save(&self) {
        let map: BTreeMap<&str, String> = self
            .registered
            .iter()
            .map(|(service, (addr, _))| (service.as_str(), addr.to_string()))
            .collect();
        let path = &self.config.registry;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let text = serde_json::to_string(&map).expect("a map of strings serializes");
        if let Err(err) = crate::iplog::legacy::write_atomically(path, text.as_bytes()) {
            tracing::warn!(path = %path.display(), %err, "cannot save the twisted hub registry");
        }
    }
}

/// The registry file's services; a missing file is an empty registry, entries that do not parse are skipped
/// with a warning.
fn read_registry(path: &std::path::Path) -> Result<Vec<(String, SocketAddrV4)>, LegacyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(LegacyError::Registry {
                path: path.to_owned(),
                message: err.to_string(),
            })
        }
    };
    let map: BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|err| LegacyError::Registry {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
    Ok(map
        .into_iter()
        .filter_map(|(service, addr)| match addr.parse::<SocketAddrV4>() {
            Ok(addr) if !service.is_empty() => Some((service, addr)),
            _ => {
                tracing::warn!(path = %path.display(), %service, %addr, "twisted hub registry entry skipped");
                None
            }
        })
        .collect())
}
