//! [`Node`]: the handle to a running node, what library users hold: peers, lookups, adverts, subscriptions,
//! publishing, direct messages, questions, events, stats. It starts the node's tasks (the beacon task, the link
//! listener, the loop where every link arrives to be served) on one tracker and owns their shutdown. It stands
//! on top: the parts it drives share [`Shared`](crate::shared::Shared) and never import it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use herald_core::bridge::Targets;
use herald_core::bridge::{MessageEvent, PeerInfo, PeerState, Stats};
use herald_core::{AskOutcome, NodeId, Payload};
use tokio::sync::{broadcast, mpsc};

use crate::answerer::Answerer;
use crate::asking::{self, Ask};
use crate::clock::unix_ms;
use crate::config::{InterfaceSpec, NodeConfig};
use crate::discovery::beacon::BeaconTask;
use crate::discovery::sockets::{self, InterfaceError};
use crate::identity;
use crate::link::connection::{Established, LinkConfig};
use crate::link::handshake::LocalIdentity;
use crate::link::listener::{self, Inbound};
use crate::messaging::{self, serve_link, Origin, PublishError, SendOutcome, Subscription};
use crate::proxies::{self, ProxiedPeer, ProxyEndpoint, ProxyError};
use crate::questions::AskError;
use crate::shared::{Shared, Start};
use crate::stats::{bump, LegacyCounters};
use crate::topics::{TopicError, TopicPattern};

pub use crate::events::{NameConflict, NodeEvent};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The interface cannot be used.
    #[error(transparent)]
    Interface(#[from] InterfaceError),
    /// A discovery socket could not be opened (port, permissions, multicast membership).
    #[error("cannot open the discovery sockets on {iface} for group {group}: {source}")]
    Socket {
        /// Interface address.
        iface: Ipv4Addr,
        /// Group and port.
        group: std::net::SocketAddrV4,
        /// The error.
        source: std::io::Error,
    },
    /// The link listener could not be opened.
    #[error("cannot listen for links on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Another live node already uses this name.
    #[error("the name {name:?} is taken by node {holder} at {addr}; choose another name")]
    NameTaken {
        /// The name.
        name: String,
        /// The node holding it.
        holder: NodeId,
        /// Where it is.
        addr: SocketAddr,
    },
}

/// A stream of [`NodeEvent`]s. Bounded: a reader that falls behind gets [`NodeEvent::Lagged`] with the count
/// it missed, then continues with the oldest events still held.
pub struct Events {
    rx: broadcast::Receiver<NodeEvent>,
    shared: Arc<Shared>,
}

impl Events {
    /// The next event; `None` once the node has shut down.
    pub async fn next(&mut self) -> Option<NodeEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                self.shared
                    .counters
                    .events_lagged
                    .fetch_add(missed, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(missed, "event reader fell behind");
                Some(NodeEvent::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// A running node.
pub struct Node {
    shared: Arc<Shared>,
    first_events: Mutex<Option<broadcast::Receiver<NodeEvent>>>,
}

impl Node {
    /// Starts a node: opens the discovery sockets, beacons, and listens for `config.claim_wait` for another
    /// live node using this name (then fails with [`StartError::NameTaken`]).
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let iface = sockets::resolve(&config.interface, config.group)?;
        let socket_error = |source| StartError::Socket {
            iface,
            group: config.group,
            source,
        };
        let group = sockets::group_socket(config.group, iface).map_err(socket_error)?;
        let port = config.discovery_port.unwrap_or(config.group.port());
        let (unicast, got_port) = sockets::discovery_socket(iface, port).map_err(socket_error)?;
        if !got_port {
            let now = unicast.local_addr().map_err(socket_error)?;
            tracing::info!(%iface, wanted = port, port = now.port(), "discovery port taken on this address (another node?): using an ephemeral port, so this node cannot be a seed");
        }
        let seeds = sockets::resolve_seeds(&config.seeds).await;
        let (link_listener, tcp_port) = listen_for_links(&config).await?;
        let node_id = config
            .node_id
            .unwrap_or_else(|| identity::node_id_for(&config.name));
        let me = LocalIdentity {
            node_id,
            name: config.name.clone(),
            kind: config.kind,
        };
        let mut link_config = LinkConfig::new(me, config.key.clone());
        link_config.policy = config.overflow;
        let (events, first_events) = broadcast::channel(config.event_capacity.max(16));
        let (dialled, dialled_rx) = mpsc::channel(ARRIVALS_CAPACITY);
        let start = Start {
            node_id,
            incarnation: unix_ms(),
            local_ip: iface,
            link_config,
            tcp_port,
            events,
            dialled,
        };
        let shared = Arc::new(Shared::new(config, start));
        let node = Node {
            shared: shared.clone(),
            first_events: Mutex::new(Some(first_events)),
        };
        let task = BeaconTask::new(shared.clone(), group, unicast, iface, seeds);
        shared.tasks.spawn(task.run(shared.shutdown.clone()));
        let (accepted, accepted_rx) = mpsc::channel::<Inbound>(ARRIVALS_CAPACITY);
        shared.tasks.spawn(listener::run(
            link_listener,
            shared.messaging.links.config().clone(),
            shared.config.max_links,
            accepted,
            shared.listener_counters.clone(),
            shared.tasks.clone(),
            shared.shutdown.clone(),
        ));
        shared
            .tasks
            .spawn(serve_arrivals(shared.clone(), accepted_rx, dialled_rx));
        tracing::info!(name = %shared.config.name, id = %node_id, %iface, group = %shared.config.group, "node started");

        if !shared.config.claim_wait.is_zero() {
            tokio::time::sleep(shared.config.claim_wait).await;
            if let Some(conflict) = shared.conflict() {
                node.shutdown_quietly().await;
                return Err(StartError::NameTaken {
                    name: conflict.name,
                    holder: conflict.claimant,
                    addr: conflict.addr,
                });
            }
        }
        Ok(node)
    }

    /// The state shared with the node's tasks (for the crate's own tests).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.node_id
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The node's events. The first call gets every event since start; later calls get events from now on.
    pub fn events(&self) -> Events {
        let rx = self
            .first_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Events {
            rx: rx.unwrap_or_else(|| self.shared.subscribe_events()),
            shared: self.shared.clone(),
        }
    }

    /// Every live peer, by name.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.shared.table().peers()
    }

    /// The live peer with this name.
    pub fn peer(&self, name: &str) -> Option<PeerInfo> {
        self.shared.table().by_name(name).cloned()
    }

    /// Every live peer a plain `name` could mean, as `name@site`: more than one when the name is ambiguous (no
    /// peer of that name on this LAN, several at other sites; then address one as `name@site`).
    pub fn candidates(&self, name: &str) -> Vec<String> {
        self.shared.table().candidates(name)
    }

    /// Every live provider of `service` (this node included), as `ip:port`, by provider name.
    pub fn lookup(&self, service: &str) -> Vec<SocketAddr> {
        let mut found: Vec<(String, SocketAddr)> = self
            .shared
            .table()
            .providers(service)
            .into_iter()
            .map(|(peer, addr)| (peer.name, addr))
            .collect();
        if let Some(port) = self.shared.advert().services.get(service) {
            found.push((
                self.name().to_owned(),
                SocketAddr::new(self.shared.local_ip().into(), *port),
            ));
        }
        found.sort();
        found.into_iter().map(|(_, addr)| addr).collect()
    }

    /// Advertises (or moves) a service at `port` on this node; peers see the change at once.
    pub fn advertise(&self, service: &str, port: u16) {
        self.shared
            .advert()
            .services
            .insert(service.to_owned(), port);
        self.shared.announce.notify_one();
    }

    /// Stops advertising a service.
    pub fn withdraw(&self, service: &str) {
        self.shared.advert().services.remove(service);
        self.shared.announce.notify_one();
    }

    /// Makes the legacy program `peer` visible LAN-wide as a peer this node proxies (kind, address, services;
    /// `via` this node), announced at once; with an `endpoint` it also takes direct messages and questions
    /// from any node. Adding a name again replaces it. Returns its node id (see [`proxies::proxied_id`]).
    pub fn proxy(
        &self,
        peer: ProxiedPeer,
        endpoint: Option<Arc<dyn ProxyEndpoint>>,
    ) -> Result<NodeId, ProxyError> {
        let id = proxies::proxied_id(self.shared.node_id, peer.kind, &peer.name);
        self.shared
            .proxies
            .add(id, self.txt_that_fits(peer), endpoint)?;
        self.shared.announce.notify_one();
        Ok(id)
    }

    /// Proxies `peer` under an id `id` chosen by the caller rather than derived from this node's, so it stays
    /// one peer whichever node announces it: a peer at another site keeps its own node id (whichever gateway or
    /// seed announces it), a DNS-SD instance gets the same id on every node that browses it. Otherwise as
    /// [`Node::proxy`].
    pub fn proxy_as(
        &self,
        id: NodeId,
        peer: ProxiedPeer,
        endpoint: Option<Arc<dyn ProxyEndpoint>>,
    ) -> Result<(), ProxyError> {
        self.shared
            .proxies
            .add(id, self.txt_that_fits(peer), endpoint)?;
        self.shared.announce.notify_one();
        Ok(())
    }

    /// `peer` with the TXT records its beacon can carry (`MAX_TXT_BYTES`, in key order); the rest are counted
    /// (`discovery.txt.left_out`) and logged.
    fn txt_that_fits(&self, mut peer: ProxiedPeer) -> ProxiedPeer {
        let (kept, left_out) = herald_core::discovery::cap_txt(&peer.txt);
        if left_out > 0 {
            self.shared
                .counters
                .txt_left_out
                .fetch_add(left_out as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                peer = %peer.name,
                left_out,
                max = herald_core::discovery::MAX_TXT_BYTES,
                "TXT records left out of a proxied peer's beacon: over the bytes one beacon carries"
            );
            peer.txt = kept;
        }
        peer
    }

    /// Discovery's counters (DNS-SD, run beside the node, counts here too, so `stats` shows it).
    pub fn discovery_counters(&self) -> &crate::stats::DiscoveryCounters {
        &self.shared.counters
    }

    /// Stops announcing the proxied peer `id` without a leave beacon: peers see it `lost` when it expires
    /// (a peer whose site went silent did not leave).
    pub fn forget_proxied(&self, id: NodeId) {
        self.shared.proxies.forget(id);
    }

    /// A site gateway's NATS counters (it runs beside the node and counts here, so `stats` shows them).
    pub fn site_counters(&self) -> &crate::stats::SiteCounters {
        &self.shared.site_counters
    }

    /// The legacy gateways' counters (they run beside the node and count here, so `stats` shows them).
    pub fn legacy_counters(&self) -> &LegacyCounters {
        &self.shared.legacy_counters
    }

    /// This node's address on its interface (where its legacy listeners listen).
    pub fn local_ip(&self) -> Ipv4Addr {
        self.shared.local_ip()
    }

    /// A direct message to this node from the legacy peer `from` it proxies, delivered like one that came over
    /// a link (a `Message` event with no topic).
    pub fn receive_from_proxied(&self, from: NodeId, from_name: &str, payload: Payload) {
        bump(&self.shared.messaging.counters.direct_received);
        self.shared.emit(NodeEvent::Message(MessageEvent {
            from,
            from_name: from_name.to_owned(),
            topic: None,
            payload,
            at_ms: unix_ms(),
        }));
    }

    /// Answers a question from the legacy peer `from` it proxies with this node's answer handler (as a
    /// question over a link would be), within `timeout`.
    pub async fn answer_for_proxied(
        &self,
        from: NodeId,
        from_name: &str,
        payload: Payload,
        timeout: std::time::Duration,
    ) -> herald_core::frame::AnswerBody {
        let question = crate::answerer::IncomingQuestion {
            from,
            from_name: from_name.to_owned(),
            payload,
            timeout,
        };
        crate::answering::answer_here(&self.shared, question).await
    }

    /// Stops proxying the peer `id` (from [`Node::proxy`]): its leave beacon goes out at once.
    pub fn unproxy(&self, id: NodeId) {
        if self.shared.proxies.remove(id) {
            self.shared.announce.notify_one();
        }
    }

    /// This node as its peers see it.
    pub fn info(&self) -> PeerInfo {
        let ip = IpAddr::V4(self.shared.local_ip());
        let advert = self.shared.advert().clone();
        let now = unix_ms();
        PeerInfo {
            node_id: self.shared.node_id,
            name: self.shared.config.name.clone(),
            kind: self.shared.config.kind,
            addr: ip,
            tcp: (advert.tcp_port != 0).then(|| SocketAddr::new(ip, advert.tcp_port)),
            services: advert
                .services
                .iter()
                .map(|(name, port)| (name.clone(), SocketAddr::new(ip, *port)))
                .collect(),
            topics: advert.topics,
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: self.shared.incarnation,
            last_seen_ms: now,
            state: PeerState::Live,
        }
    }

    /// Subscribes this node to a topic pattern (`chat`, `sensors.*`); peers learn it from the next beacon,
    /// which goes out at once. Messages arrive as [`NodeEvent::Message`].
    pub fn subscribe(&self, pattern: &str) -> Result<(), TopicError> {
        let pattern = TopicPattern::parse(pattern)?;
        if self.shared.messaging.local.subscribe(pattern) {
            self.shared.topics_changed();
        }
        Ok(())
    }

    /// Subscribes to a pattern and returns a lossless stream of its messages. A reader that falls behind slows
    /// this node's links from the publishers, whose overflow policy then applies (wait, or drop the oldest and
    /// report `Missed`); dropping the stream does not unsubscribe. Messages a stream yields are not also sent
    /// as [`NodeEvent::Message`] (the event stream is lossy; a stream is where they arrive in full).
    pub fn subscription(&self, pattern: &str) -> Result<Subscription, TopicError> {
        self.subscription_to(&[pattern])
    }

    /// Like [`Node::subscription`] for several patterns at once: one stream, each message once however many
    /// of the patterns match it. Publishers only send what a node announces, so patterns subscribed here
    /// (rather than in [`NodeConfig::topics`]) lose nothing between start-up and this call.
    pub fn subscription_to(&self, patterns: &[&str]) -> Result<Subscription, TopicError> {
        let parsed = patterns
            .iter()
            .map(|p| TopicPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let stream = self.shared.messaging.streams.open(parsed);
        for pattern in patterns {
            self.subscribe(pattern)?;
        }
        Ok(stream)
    }

    /// Stops a subscription.
    pub fn unsubscribe(&self, pattern: &str) -> Result<(), TopicError> {
        let pattern = TopicPattern::parse(pattern)?;
        if self.shared.messaging.local.unsubscribe(&pattern) {
            self.shared.topics_changed();
        }
        Ok(())
    }

    /// Publishes `payload` on `topic` to every subscriber on the LAN, this node included; returns how many
    /// it was queued for. Never waits for a connection; with the `Block` policy it waits for room in a slow
    /// subscriber's queue.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<usize, PublishError> {
        messaging::publish(&self.shared, topic, payload.as_ref()).await
    }

    /// Publishes on `topic` in the name of the peer `from` (shown as `from_name`) that this node relays for: a
    /// site gateway's messages from other sites. Not delivered to this node's own subscriptions.
    #[cfg(feature = "sites")]
    pub(crate) async fn publish_as(
        &self,
        from: NodeId,
        from_name: &str,
        topic: &str,
        payload: &[u8],
    ) -> Result<usize, PublishError> {
        messaging::publish_relayed(&self.shared, from, from_name, topic, payload).await
    }

    /// The names of the peers a message on `topic` goes to (subscribers within the bound), by name.
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        let ids = self.shared.messaging.subscribers(topic);
        let table = self.shared.table();
        let mut names: Vec<String> = ids
            .iter()
            .filter_map(|id| table.target(id).map(|t| t.name))
            .collect();
        names.sort();
        names
    }

    /// Sends `payload` as a direct message to each target (a name, a list, or every live peer); returns
    /// what became of it per name. Never waits for a connection; with the `Block` policy it waits for room.
    pub async fn send(
        &self,
        targets: impl Into<Targets>,
        payload: impl Into<Payload>,
    ) -> BTreeMap<String, SendOutcome> {
        messaging::send_direct(&self.shared, &targets.into(), payload.into()).await
    }

    /// Asks each named peer `question` and waits up to `timeout`: every name gets its answer (with the
    /// latency) or the reason there is none (timeout, unknown peer, peer left, or the answerer failed).
    /// Answers arriving after the timeout are discarded and counted.
    pub async fn ask(
        &self,
        targets: impl Into<Targets>,
        question: impl Into<Payload>,
        timeout: std::time::Duration,
    ) -> Result<BTreeMap<String, AskOutcome>, AskError> {
        Ok(self
            .start_ask(targets, question, timeout)
            .await?
            .finish()
            .await)
    }

    /// Like [`Node::ask`], but returns at once with a handle that yields each name's outcome as it arrives.
    pub async fn start_ask(
        &self,
        targets: impl Into<Targets>,
        question: impl Into<Payload>,
        timeout: std::time::Duration,
    ) -> Result<Ask, AskError> {
        let names = match targets.into() {
            Targets::All => self.shared.table().linkable_names(),
            Targets::Names(names) => names,
        };
        asking::ask(&self.shared, names, question.into(), timeout).await
    }

    /// Answers peers' questions with `handler` from now on (the seed's "answer a question" callback). Each
    /// question runs in its own task with the asker's timeout; an error or a panic becomes a `Failed` answer
    /// and a [`NodeEvent::AnswerFailed`]. Without a handler a node answers `ping` and `info` only.
    pub fn answer_with(&self, handler: impl Answerer) {
        self.shared.set_answerer(Arc::new(handler));
    }

    /// The links this node has open, with the frames each carried: the ones it opened (to the subscribers of
    /// its topics and the peers it sent to or asked), then the ones peers opened to it (to publish to its
    /// subscriptions, send to it or ask it; [`LinkDirection::Inbound`](herald_core::bridge::LinkDirection)
    /// with the frames received).
    pub fn links(&self) -> Vec<herald_core::bridge::LinkInfo> {
        let mut links = self.shared.messaging.links.open_links();
        links.extend(self.shared.messaging.local.inbound_links());
        links
    }

    /// Every counter by name.
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.counters.snapshot();
        stats
            .counters
            .extend(self.shared.messaging.counters.snapshot().counters);
        stats
            .counters
            .extend(self.shared.legacy_counters.snapshot().counters);
        stats
            .counters
            .extend(self.shared.site_counters.snapshot().counters);
        stats.counters.insert(
            "messaging.dropped_for_slow".into(),
            self.shared.messaging.dropped_for_slow(),
        );
        let links = self.shared.messaging.links.config();
        stats.counters.extend(links.counters.snapshot().counters);
        let listener = &self.shared.listener_counters;
        stats.counters.insert(
            "links.accepted".into(),
            listener.accepted.load(std::sync::atomic::Ordering::Relaxed),
        );
        stats.counters.insert(
            "links.handshakes_failed".into(),
            listener
                .handshakes_failed
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        stats
    }

    /// Leaves gracefully: sends the leave beacon, stops every task and waits for them.
    pub async fn shutdown(self) {
        self.shutdown_quietly().await;
        tracing::info!(name = %self.shared.config.name, "node stopped");
    }

    /// Like [`Node::shutdown`], through a shared reference: for embedders that share the handle (the Python
    /// package keeps it in an `Arc`). The node does nothing more afterwards; closing again does nothing.
    pub async fn close(&self) {
        self.shutdown_quietly().await;
        tracing::info!(name = %self.shared.config.name, "node stopped");
    }

    async fn shutdown_quietly(&self) {
        self.shared.messaging.links.close_all();
        self.shared.messaging.streams.close_all();
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

/// Links waiting to be served, from the listener and from dialling each: the task serving them spawns one
/// task per link at once, so these fill only if that task is starved.
const ARRIVALS_CAPACITY: usize = 64;

/// Binds the link listener: on the discovery interface when it is a fixed address, else on every address.
async fn listen_for_links(
    config: &NodeConfig,
) -> Result<(tokio::net::TcpListener, u16), StartError> {
    let listen_ip = match config.interface {
        InterfaceSpec::Addr(ip) => ip,
        _ => Ipv4Addr::UNSPECIFIED,
    };
    let addr = SocketAddr::new(listen_ip.into(), config.tcp_port);
    let listen_error = |source| StartError::Listen { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_error)?;
    let port = listener.local_addr().map_err(listen_error)?.port();
    Ok((listener, port))
}

/// Where every link arrives, accepted (with its listener permit, held while it is served) or dialled: each
/// is served in its own task on the node's tracker, until the node shuts down.
async fn serve_arrivals(
    shared: Arc<Shared>,
    mut accepted: mpsc::Receiver<Inbound>,
    mut dialled: mpsc::Receiver<Established>,
) {
    loop {
        let (link, origin, permit) = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            Some(Inbound { link, permit }) = accepted.recv() => (link, Origin::Accepted, Some(permit)),
            Some(link) = dialled.recv() => (link, Origin::Dialled, None),
            else => break,
        };
        let serving = shared.clone();
        shared.tasks.spawn(async move {
            serve_link(serving, link, origin).await;
            drop(permit);
        });
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A node dropped without `shutdown()` still stops its tasks (they send the leave beacon on their way out).
        self.shared.messaging.links.close_all();
        self.shared.shutdown.cancel();
    }
}
