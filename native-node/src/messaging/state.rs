//! [`Messaging`]: messaging's state, one part per owner, each behind its own single lock and never two held
//! at once: this node's subscriptions and accepted links ([`LocalTopics`]), who on the LAN subscribes to what
//! ([`Routes`]), the outbound link pool ([`LinkPool`]), the subscription streams ([`Streams`]) and the
//! fan-out cache of the last topic published ([`FanOut`]). The operations that need the whole node
//! (publishing, reading links, following peer events) live beside it and reach it through the node's shared
//! handle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::fanout::FanOut;
use super::links::LinkPool;
use super::local::LocalTopics;
use super::routes::Routes;
use super::streams::Streams;
use crate::link::connection::LinkConfig;
use crate::stats::MessagingCounters;

/// Messaging state of one node. See the module doc.
pub(crate) struct Messaging {
    /// Every messaging and question counter.
    pub counters: MessagingCounters,
    /// This node's subscriptions, and the accepted links told of their changes.
    pub local: LocalTopics,
    /// The links this node opened, and the peers in backoff.
    pub links: LinkPool,
    /// The readers' subscription streams.
    pub streams: Streams,
    /// Who on the LAN subscribes to what. Held for one change or lookup, never across an `.await`.
    routes: Mutex<Routes>,
    /// The routes' generation as of their last change, readable without their lock (the publish path).
    routes_generation: AtomicU64,
    /// Held for one publish's queueing, never across an `.await`. The only lock taken with another held: when
    /// the cache is stale it takes the routes' and then the links' lock inside it, one after the other; nothing
    /// takes it while holding those, so the order cannot cross.
    fanout: Mutex<FanOut>,
}

impl Messaging {
    /// Messaging with `link_config`, at most `subscriber_limit` subscribers per pattern when given.
    pub fn new(link_config: LinkConfig, subscriber_limit: Option<u32>) -> Self {
        Messaging {
            counters: MessagingCounters::default(),
            local: LocalTopics::default(),
            links: LinkPool::new(link_config),
            streams: Streams::default(),
            routes: Mutex::new(Routes::new(subscriber_limit)),
            routes_generation: AtomicU64::new(0),
            fanout: Mutex::new(FanOut::default()),
        }
    }

    /// Changes the routes with `change` (under their lock, briefly: see the field's doc).
    pub fn update_routes<R>(&self, change: impl FnOnce(&mut Routes) -> R) -> R {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let result = change(&mut routes);
        self.routes_generation
            .store(routes.generation(), Ordering::Release);
        result
    }

    /// The peers a message on `topic` goes to (within the subscriber bound).
    pub fn subscribers(&self, topic: &str) -> std::sync::Arc<[herald_core::NodeId]> {
        self.update_routes(|routes| routes.subscribers(topic))
    }

    /// Changes whenever who subscribes to what changes.
    pub fn routes_generation(&self) -> u64 {
        self.routes_generation.load(Ordering::Acquire)
    }

    /// The fan-out cache, locked (briefly: see the field's doc).
    pub fn fanout(&self) -> MutexGuard<'_, FanOut> {
        self.fanout.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Topic messages dropped for slow subscribers so far, on open links and closed ones.
    pub fn dropped_for_slow(&self) -> u64 {
        self.links.dropped_for_slow()
    }
}
