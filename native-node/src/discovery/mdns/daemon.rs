//! The glue between a node and the `mdns-sd` daemon (its own thread, speaking mDNS on UDP 5353 beside Avahi):
//! [`Mdns::start`] keeps the daemon to the node's interface, registers what [`records::announcements`] says
//! (re-checked every [`RESYNC`]: services advertised later, a new link port; the daemon itself follows the
//! interface's addresses), browses the
//! configured types into [`records::Browsed`] and proxies what it finds. [`Mdns::shutdown`] withdraws every
//! announcement (goodbye packets) before the daemon stops; the node's own leave takes the proxied peers away.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use herald_core::NodeId;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::records::{self, Announcement, Browsed, Change, Resolved, Skip, TypeError};
use crate::config::InterfaceSpec;
use crate::node::Node;
use crate::stats::bump;

/// How often the announcements are compared with the node's services, link port and address.
pub const RESYNC: Duration = Duration::from_secs(2);

/// How long a withdrawal waits for the daemon to send its goodbye.
const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

/// What DNS-SD does beside a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdnsConfig {
    /// The only interface mDNS may use: the node's own (`--interface`). Its IPv4 addresses only.
    pub interface: InterfaceSpec,
    /// Announce the node and its services (`--mdns`).
    pub announce: bool,
    /// Service types to browse for (`--mdns-browse`), as given (`_ipp._tcp`).
    pub browse: Vec<String>,
}

impl MdnsConfig {
    /// True when there is nothing to do (no announcing, no browsing).
    pub fn is_off(&self) -> bool {
        !self.announce && self.browse.is_empty()
    }
}

/// Why DNS-SD could not start.
#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    /// A `--mdns-browse` value is not a service type.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// The daemon refused to start or to take a command.
    #[error("mDNS: {0}")]
    Daemon(#[from] mdns_sd::Error),
}

/// DNS-SD running beside a node; [`Mdns::shutdown`] withdraws its announcements.
pub struct Mdns {
    daemon: ServiceDaemon,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Mdns {
    /// Starts the mDNS daemon on `node`'s interface only, announcing and browsing as `config` says.
    pub async fn start(node: &Arc<Node>, config: MdnsConfig) -> Result<Mdns, MdnsError> {
        let types = config
            .browse
            .iter()
            .map(|t| records::browse_type(t))
            .collect::<Result<Vec<_>, _>>()?;
        let daemon = ServiceDaemon::new()?;
        match Mdns::begin(node, &config, &types, &daemon) {
            Ok(mdns) => {
                tracing::info!(interface = %config.interface, announce = config.announce, browse = ?types, "mDNS started");
                Ok(mdns)
            }
            Err(err) => {
                let _ = daemon.shutdown();
                Err(err)
            }
        }
    }

    /// Keeps `daemon` to the node's interface, then starts announcing and browsing.
    fn begin(
        node: &Arc<Node>,
        config: &MdnsConfig,
        types: &[String],
        daemon: &ServiceDaemon,
    ) -> Result<Mdns, MdnsError> {
        // Every interface off, then the node's own on, IPv4 only: the daemon applies these in order, before any
        // register or browse command, so no mDNS goes elsewhere (it has joined the group everywhere on start,
        // though: see the README).
        daemon.disable_interface(IfKind::All)?;
        match &config.interface {
            InterfaceSpec::Name(name) => daemon.enable_interface(IfKind::Name(name.clone()))?,
            InterfaceSpec::Addr(_) | InterfaceSpec::Lan => {
                daemon.enable_interface(IfKind::Addr(IpAddr::V4(node.local_ip())))?
            }
        }
        daemon.disable_interface(IfKind::IPv6)?;
        let mut streams = Vec::with_capacity(types.len());
        for ty in types {
            streams.push(daemon.browse(ty)?.into_stream());
        }
        let mdns = Mdns {
            daemon: daemon.clone(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        };
        if config.announce {
            let announcer = Announcer {
                node: node.clone(),
                daemon: daemon.clone(),
                host: format!("herald-{}.local.", node.id().short()),
                current: BTreeMap::new(),
            };
            mdns.tasks.spawn(announcer.run(mdns.shutdown.clone()));
        }
        if !streams.is_empty() {
            let browser = Browser {
                node: node.clone(),
                book: Browsed::default(),
                proxied: Vec::new(),
            };
            mdns.tasks
                .spawn(browser.run(futures::stream::select_all(streams), mdns.shutdown.clone()));
        }
        mdns.tasks.close();
        Ok(mdns)
    }

    /// Withdraws every announcement (goodbye packets) and stops browsing and the daemon. The proxied peers
    /// leave with the node's own leave beacon (or at once, when the node goes on without DNS-SD).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
        if let Ok(status) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(WITHDRAW_WAIT, status.recv_async()).await;
        }
    }
}

/// Keeps the daemon's registrations in line with the node's link port and services.
struct Announcer {
    node: Arc<Node>,
    daemon: ServiceDaemon,
    /// The host name of the address records (`herald-<id>.local.`: never the machine's own, which Avahi holds).
    host: String,
    /// What is registered, by full name.
    current: BTreeMap<String, Announcement>,
}

impl Announcer {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(RESYNC);
        let mut skipped_before = Vec::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let info = self.node.info();
            let services = info
                .services
                .iter()
                .map(|(name, addr)| (name.clone(), addr.port()))
                .collect();
            let link_port = info.tcp.map_or(0, |tcp| tcp.port());
            let (wanted, skipped) =
                records::announcements(&info.name, info.node_id, link_port, &services);
            if skipped != skipped_before {
                if !skipped.is_empty() {
                    tracing::info!(services = ?skipped, "not announced by DNS-SD: not valid service types (1 to 15 letters, digits, hyphens)");
                }
                skipped_before = skipped;
            }
            let (register, withdraw) = records::plan(&self.current, &wanted);
            for fullname in withdraw {
                self.withdraw(&fullname).await;
            }
            for announcement in register {
                self.register(announcement);
            }
        }
        self.withdraw_all().await;
    }

    /// Registers `announcement` at the interface's addresses as the daemon finds them (`addr_auto`: it
    /// follows address changes, and announces again on an address or interface that comes up later).
    fn register(&mut self, announcement: Announcement) {
        let counters = self.node.discovery_counters();
        let txt: Vec<(&str, &str)> = announcement
            .txt
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let registered = ServiceInfo::new(
            &announcement.ty_domain,
            &announcement.instance,
            &self.host,
            (),
            announcement.port,
            &txt[..],
        )
        .and_then(|info| self.daemon.register(info.enable_addr_auto()));
        match registered {
            Ok(()) => {
                bump(&counters.mdns_announced);
                tracing::debug!(service = %announcement.fullname(), port = announcement.port, "announced by DNS-SD");
                self.current.insert(announcement.fullname(), announcement);
            }
            Err(err) => {
                bump(&counters.mdns_errors);
                tracing::warn!(service = %announcement.fullname(), %err, "cannot announce by DNS-SD");
            }
        }
    }

    async fn withdraw(&mut self, fullname: &str) {
        self.current.remove(fullname);
        match self.daemon.unregister(fullname) {
            Ok(status) => {
                let _ = tokio::time::timeout(WITHDRAW_WAIT, status.recv_async()).await;
                tracing::debug!(service = %fullname, "withdrawn from DNS-SD");
            }
            Err(err) => {
                bump(&self.node.discovery_counters().mdns_errors);
                tracing::warn!(service = %fullname, %err, "cannot withdraw from DNS-SD");
            }
        }
    }

    async fn withdraw_all(&mut self) {
        let names: Vec<String> = self.current.keys().cloned().collect();
        for fullname in names {
            self.withdraw(&fullname).await;
        }
    }
}

/// Turns browse events into proxied peers.
struct Browser {
    node: Arc<Node>,
    book: Browsed,
    /// The peers proxied now, withdrawn when browsing stops.
    proxied: Vec<NodeId>,
}

impl Browser {
    async fn run(
        mut self,
        mut events: impl futures::Stream<Item = ServiceEvent> + Unpin,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => break,
                event = events.next() => event,
            };
            let Some(event) = event else {
                // Every subscription ended: the daemon stopped, or dropped a reader it found too slow.
                bump(&self.node.discovery_counters().mdns_errors);
                tracing::warn!("DNS-SD browsing stopped by the mDNS daemon; its peers leave");
                break;
            };
            match event {
                ServiceEvent::ServiceResolved(service) => {
                    let resolved = Resolved {
                        ty_domain: service.ty_domain.clone(),
                        fullname: service.fullname.clone(),
                        host: service.host.clone(),
                        port: service.port,
                        addrs: service.addresses.iter().map(|a| a.to_ip_addr()).collect(),
                        txt: service
                            .txt_properties
                            .iter()
                            .map(|p| (p.key().to_owned(), p.val_str().to_owned()))
                            .collect(),
                    };
                    self.resolved(resolved);
                }
                ServiceEvent::ServiceRemoved(_, fullname) => {
                    if let Some(change) = self.book.removed(&fullname) {
                        bump(&self.node.discovery_counters().mdns_removed);
                        self.apply(change);
                    }
                }
                _ => {}
            }
        }
        for id in std::mem::take(&mut self.proxied) {
            self.node.unproxy(id);
        }
    }

    fn resolved(&mut self, service: Resolved) {
        let counters = self.node.discovery_counters();
        let fullname = service.fullname.clone();
        match self.book.resolved(service) {
            Ok(changes) => {
                bump(&counters.mdns_found);
                for change in changes {
                    self.apply(change);
                }
            }
            Err(Skip::Herald) => {
                tracing::debug!(service = %fullname, "DNS-SD: a Herald node's own service, not proxied")
            }
            Err(err @ Skip::NoAddress) => {
                tracing::debug!(service = %fullname, %err, "DNS-SD service not proxied")
            }
            Err(err @ Skip::Full(_)) => {
                bump(&counters.mdns_refused);
                tracing::warn!(service = %fullname, %err, "DNS-SD service not proxied");
            }
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Proxy { id, peer } => {
                let (name, txt) = (peer.name.clone(), peer.txt.clone());
                match self.node.proxy_as(id, peer, None) {
                    Ok(()) => {
                        if !self.proxied.contains(&id) {
                            self.proxied.push(id);
                        }
                        tracing::info!(peer = %name, ?txt, "DNS-SD service proxied");
                    }
                    Err(err) => {
                        bump(&self.node.discovery_counters().mdns_refused);
                        tracing::warn!(peer = %name, %err, "DNS-SD service not proxied");
                    }
                }
            }
            Change::Unproxy { id, name } => {
                self.proxied.retain(|p| *p != id);
                self.node.unproxy(id);
                tracing::info!(peer = %name, "DNS-SD service gone");
            }
        }
    }
}
