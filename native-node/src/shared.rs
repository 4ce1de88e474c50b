//! [`Shared`]: the state a node's handle and its tasks share, on the ground floor of the crate. It holds each
//! part's state (the peer table, what this node announces, messaging, questions awaited, the answer handler,
//! proxied peers, counters) and the node's task tracker and shutdown token. The parts that act on it
//! (discovery's beacon task, messaging's publish and link readers, asking, answering, relaying) stand above
//! it and import it; it imports none of them, and nothing imports the node handle (`node.rs`) back.
//!
//! Every lock here is a `std` mutex held for a few instructions and never across an `.await`, and none is
//! taken while another is held (messaging's fan-out cache is the one documented exception, in one order).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use herald_core::NodeId;
use tokio::sync::{broadcast, mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::answerer::{Answerer, BuiltinAnswers};
use crate::awaiting::Awaiting;
use crate::config::NodeConfig;
use crate::discovery::peers::PeerTable;
use crate::events::{NameConflict, NodeEvent};
use crate::link::connection::{Established, LinkConfig};
use crate::link::listener::ListenerCounters;
use crate::messaging::Messaging;
use crate::proxies::Proxies;
use crate::stats::{DiscoveryCounters, LegacyCounters, SiteCounters};

/// What this node announces, changed at run time by `Node::advertise` and friends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Advert {
    /// Services, name → port.
    pub services: BTreeMap<String, u16>,
    /// Subscribed patterns.
    pub topics: Vec<String>,
    /// Where it takes links.
    pub tcp_port: u16,
}

/// State shared by the node's handle and its tasks. See the module doc.
pub(crate) struct Shared {
    /// The configuration the node started with.
    pub config: NodeConfig,
    /// This node's id.
    pub node_id: NodeId,
    /// When this run started (unix ms): tells a restart from a replay.
    pub incarnation: u64,
    /// Discovery's counters.
    pub counters: DiscoveryCounters,
    /// Woken when the advert changed: the beacon task announces at once.
    pub announce: Notify,
    /// Subscriptions, routes, links and streams.
    pub messaging: Messaging,
    /// Questions this node asked and awaits.
    pub awaiting: Awaiting,
    /// Questions answered at once at most (`max_concurrent_answers`).
    pub answer_slots: Arc<Semaphore>,
    /// The link listener's counters.
    pub listener_counters: Arc<ListenerCounters>,
    /// Legacy programs this node makes visible as peers.
    pub proxies: Proxies,
    /// The legacy gateways' counters.
    pub legacy_counters: LegacyCounters,
    /// A site gateway's NATS counters.
    pub site_counters: SiteCounters,
    /// Where links this node dialled are handed to be served (beside the listener's accepted ones).
    pub dialled: mpsc::Sender<Established>,
    /// Every task of the node; shutdown waits for all of them.
    pub tasks: TaskTracker,
    /// Cancelled when the node shuts down.
    pub shutdown: CancellationToken,
    table: Mutex<PeerTable>,
    advert: Mutex<Advert>,
    local_ip: Mutex<Ipv4Addr>,
    conflict: Mutex<Option<NameConflict>>,
    events: broadcast::Sender<NodeEvent>,
    answerer: Mutex<Arc<dyn Answerer>>,
}

/// What a starting node found out before its state exists.
pub(crate) struct Start {
    /// Its id.
    pub node_id: NodeId,
    /// When this run started (unix ms).
    pub incarnation: u64,
    /// Its address on its interface.
    pub local_ip: Ipv4Addr,
    /// Its links' configuration.
    pub link_config: LinkConfig,
    /// Where it takes links.
    pub tcp_port: u16,
    /// Where its events go.
    pub events: broadcast::Sender<NodeEvent>,
    /// Where links it dials are handed to be served.
    pub dialled: mpsc::Sender<Established>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The state of a node starting with `config`; see [`Start`].
    pub fn new(config: NodeConfig, start: Start) -> Shared {
        let Start {
            node_id,
            incarnation,
            local_ip,
            link_config,
            tcp_port,
            events,
            dialled,
        } = start;
        let messaging = Messaging::new(link_config, config.subscriber_limit);
        let mut topics = Vec::new();
        for topic in &config.topics {
            match crate::topics::TopicPattern::parse(topic) {
                Ok(pattern) => {
                    messaging.local.subscribe(pattern);
                    topics.push(topic.clone());
                }
                Err(err) => {
                    tracing::warn!(%topic, %err, "not a valid topic pattern; not subscribed")
                }
            }
        }
        let advert = Advert {
            services: config.services.clone(),
            topics,
            tcp_port,
        };
        Shared {
            table: Mutex::new(PeerTable::new(
                node_id,
                incarnation,
                &config.name,
                config.expiry_beats,
                config.max_peers,
            )),
            advert: Mutex::new(advert),
            local_ip: Mutex::new(local_ip),
            conflict: Mutex::new(None),
            counters: DiscoveryCounters::default(),
            announce: Notify::new(),
            events,
            answerer: Mutex::new(Arc::new(BuiltinAnswers::new(
                &config.name,
                &config.services,
            ))),
            messaging,
            awaiting: Awaiting::new(config.max_pending_questions),
            answer_slots: Arc::new(Semaphore::new(config.max_concurrent_answers)),
            listener_counters: Arc::new(ListenerCounters::default()),
            proxies: Proxies::default(),
            legacy_counters: LegacyCounters::default(),
            site_counters: SiteCounters::default(),
            dialled,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            node_id,
            incarnation,
            config,
        }
    }

    /// The peer table, locked.
    pub fn table(&self) -> MutexGuard<'_, PeerTable> {
        lock(&self.table)
    }

    /// What this node announces, locked.
    pub fn advert(&self) -> MutexGuard<'_, Advert> {
        lock(&self.advert)
    }

    /// The address discovery moved to.
    pub fn set_local_ip(&self, ip: Ipv4Addr) {
        *lock(&self.local_ip) = ip;
    }

    /// This node's address on its interface.
    pub fn local_ip(&self) -> Ipv4Addr {
        *lock(&self.local_ip)
    }

    /// Remembers the first node seen claiming this node's name (start-up fails on it).
    pub fn note_conflict(&self, conflict: NameConflict) {
        lock(&self.conflict).get_or_insert(conflict);
    }

    /// The first node seen claiming this node's name, if any.
    pub fn conflict(&self) -> Option<NameConflict> {
        lock(&self.conflict).clone()
    }

    /// The current answer handler.
    pub fn answerer(&self) -> Arc<dyn Answerer> {
        lock(&self.answerer).clone()
    }

    /// Answers questions with `handler` from now on.
    pub fn set_answerer(&self, handler: Arc<dyn Answerer>) {
        *lock(&self.answerer) = handler;
    }

    /// A new reader of the events from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Sends an event to every reader; with none, it is simply not delivered (the table stays the truth).
    pub fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }

    /// This node's subscriptions changed: its advert follows and the beacon task announces at once.
    pub fn topics_changed(&self) {
        let topics = self.messaging.local.patterns();
        self.advert().topics = topics;
        self.announce.notify_one();
    }
}
