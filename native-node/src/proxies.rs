//! Proxied peers: programs that speak an older protocol (a hein receiver, a pythonConnect device, a Twisted
//! hub service) and that this node, as their gateway, makes visible LAN-wide like any peer.
//!
//! A gateway announces each of them with a beacon of its own: the legacy peer's name, its `kind`, its address
//! in `addr`, and `via` = the gateway's id, sent beside the gateway's own beacon (every heartbeat, to
//! newcomers, and at once on a change). Their node ids are derived from the gateway's id, the kind and the name
//! ([`proxied_id`]), so a program that reconnects is the same peer again. Removing one sends its leave beacon.
//!
//! A proxied peer that takes messages (a pythonConnect device) has a [`ProxyEndpoint`]: other nodes reach it
//! over their link to the gateway, in `Relay` frames naming it, and the gateway hands the message or the
//! question to the endpoint (see `messaging`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use herald_core::frame::AnswerBody;
use herald_core::{NodeId, Payload, PeerKind};
use sha2::{Digest, Sha256};

/// Largest number of peers one gateway proxies; beyond it [`Proxies::add`] refuses.
pub const MAX_PROXIED: usize = 1024;

/// A legacy program as the LAN sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedPeer {
    /// Its name (unique on the LAN, like any peer's).
    pub name: String,
    /// Which old protocol it speaks.
    pub kind: PeerKind,
    /// Its own address.
    pub addr: IpAddr,
    /// Services it provides, at `addr`.
    pub services: BTreeMap<String, u16>,
    /// The site it is at, for a peer at another site this node is the NATS gateway for (then its node id is
    /// its own, not [`proxied_id`]); `None` for a legacy program on this LAN.
    pub site: Option<String>,
    /// Its TXT records (a service found by DNS-SD, or such a peer at another site); empty for others. Beacons
    /// carry at most `MAX_TXT_BYTES` of them: the node keeps what fits when it proxies the peer.
    pub txt: BTreeMap<String, String>,
}

/// The gateway's side of a proxied peer that takes messages and questions.
pub trait ProxyEndpoint: Send + Sync + 'static {
    /// Passes a direct message from the peer named `from` on; `Err` says why it was not (a full queue, a
    /// message the old protocol cannot carry).
    fn deliver(&self, from: &str, payload: Payload) -> Result<(), String>;

    /// Asks the legacy program `question` for the peer named `from`; resolves to its answer, or `Failed`, within
    /// `timeout` (the caller stops waiting then anyway).
    fn ask(
        &self,
        from: &str,
        question: Payload,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = AnswerBody> + Send>>;
}

/// Why a peer could not be proxied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// [`MAX_PROXIED`] peers are proxied already.
    #[error("this gateway already proxies {0} peers")]
    Full(usize),
}

/// The node id a gateway gives the legacy peer `name` of `kind`: the first 16 bytes of
/// SHA-256(gateway id, kind, name).
pub fn proxied_id(gateway: NodeId, kind: PeerKind, name: &str) -> NodeId {
    let mut hash = Sha256::new();
    hash.update(gateway.0);
    hash.update(kind.as_str().as_bytes());
    hash.update([0]);
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    NodeId(id)
}

pub(crate) struct Entry {
    pub peer: ProxiedPeer,
    pub endpoint: Option<Arc<dyn ProxyEndpoint>>,
}

/// Every peer this node proxies, and those removed whose leave beacons are still to be sent.
#[derive(Default)]
pub(crate) struct Proxies {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<NodeId, Entry>,
    leaving: Vec<(NodeId, ProxiedPeer)>,
}

impl Proxies {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) the peer `id`.
    pub fn add(
        &self,
        id: NodeId,
        peer: ProxiedPeer,
        endpoint: Option<Arc<dyn ProxyEndpoint>>,
    ) -> Result<(), ProxyError> {
        let mut inner = self.lock();
        if inner.live.len() >= MAX_PROXIED && !inner.live.contains_key(&id) {
            return Err(ProxyError::Full(MAX_PROXIED));
        }
        inner.leaving.retain(|(leaving, _)| *leaving != id);
        inner.live.insert(id, Entry { peer, endpoint });
        Ok(())
    }

    /// Removes the peer `id`; its leave beacon goes out with the next announcement.
    pub fn remove(&self, id: NodeId) -> bool {
        let mut inner = self.lock();
        match inner.live.remove(&id) {
            Some(entry) => {
                inner.leaving.push((id, entry.peer));
                true
            }
            None => false,
        }
    }

    /// Forgets the peer `id` without a leave beacon (it expires where it was known).
    pub fn forget(&self, id: NodeId) -> bool {
        self.lock().live.remove(&id).is_some()
    }

    /// The live proxied peers: id, peer, and whether it takes messages (has an endpoint).
    pub fn live(&self) -> Vec<(NodeId, ProxiedPeer, bool)> {
        self.lock()
            .live
            .iter()
            .map(|(id, e)| (*id, e.peer.clone(), e.endpoint.is_some()))
            .collect()
    }

    /// Takes the removed peers whose leave beacons are due.
    pub fn take_leaving(&self) -> Vec<(NodeId, ProxiedPeer)> {
        std::mem::take(&mut self.lock().leaving)
    }

    /// The endpoint of the proxied peer `id`, if it takes messages.
    pub fn endpoint(&self, id: &NodeId) -> Option<Arc<dyn ProxyEndpoint>> {
        self.lock().live.get(id)?.endpoint.clone()
    }

    /// Providers of `service` among the proxied peers: (id, name, address, site).
    pub fn providers(
        &self,
        service: &str,
    ) -> Vec<(NodeId, String, std::net::SocketAddr, Option<String>)> {
        self.lock()
            .live
            .iter()
            .filter_map(|(id, e)| {
                let port = e.peer.services.get(service)?;
                Some((
                    *id,
                    e.peer.name.clone(),
                    std::net::SocketAddr::new(e.peer.addr, *port),
                    e.peer.site.clone(),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> ProxiedPeer {
        ProxiedPeer {
            name: name.into(),
            kind: PeerKind::TwistedHub,
            addr: "198.51.100.7".parse().unwrap(),
            services: [(name.to_owned(), 8887)].into(),
            site: None,
            txt: BTreeMap::new(),
        }
    }

    #[test]
    fn ids_are_stable_per_gateway_kind_and_name() {
        let gw = NodeId([1; 16]);
        let a = proxied_id(gw, PeerKind::Pythonconnect, "alpha");
        assert_eq!(a, proxied_id(gw, PeerKind::Pythonconnect, "alpha"));
        assert_ne!(a, proxied_id(gw, PeerKind::HeinReceiver, "alpha"));
        assert_ne!(
            a,
            proxied_id(NodeId([2; 16]), PeerKind::Pythonconnect, "alpha")
        );
        assert_ne!(a, proxied_id(gw, PeerKind::Pythonconnect, "alpha2"));
    }

    #[test]
    fn removed_peers_leave_once_and_readding_cancels_the_leave() {
        let proxies = Proxies::default();
        let (a, b) = (NodeId([1; 16]), NodeId([2; 16]));
        proxies.add(a, peer("a"), None).unwrap();
        proxies.add(b, peer("b"), None).unwrap();
        assert!(proxies.remove(a));
        assert!(!proxies.remove(a));
        assert_eq!(proxies.live().len(), 1);
        assert_eq!(proxies.providers("b").len(), 1);
        assert!(proxies.providers("a").is_empty());
        assert_eq!(proxies.take_leaving().len(), 1);
        assert!(proxies.take_leaving().is_empty());
        proxies.remove(b);
        proxies.add(b, peer("b"), None).unwrap();
        assert!(proxies.take_leaving().is_empty());
    }

    #[test]
    fn the_bound_refuses_new_peers_only() {
        let proxies = Proxies::default();
        for i in 0..MAX_PROXIED {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            proxies.add(NodeId(id), peer("x"), None).unwrap();
        }
        assert_eq!(
            proxies.add(NodeId([9; 16]), peer("y"), None),
            Err(ProxyError::Full(MAX_PROXIED))
        );
        proxies.add(NodeId([0; 16]), peer("x"), None).unwrap();
    }
}
