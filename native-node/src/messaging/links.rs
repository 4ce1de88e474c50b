//! The outbound link pool ([`LinkPool`]): the links this node opened, one per peer, and the peers it could not
//! reach with when to try each again ([`Backoff`], sans-IO: it takes `now`). Opening a link is the caller's
//! job; the pool only says whether to, and hands out the queue the new link will write.
//!
//! Each node publishes over links it opens itself and receives over links others open to it, so a pair of
//! nodes that both publish has two links, one per direction: order per publisher–subscriber pair is the order
//! of one TCP stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_core::frame::Frame;
use herald_core::NodeId;

use crate::link::connection::LinkConfig;
use crate::link::{LinkSender, LinkWriter};

/// How long after a first failed connection a peer is left alone; each further failure doubles it.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest a peer is left alone after failed connections.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// A peer that could not be reached: left alone until `until`, then retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// No new attempt before this.
    pub until: Instant,
    /// The delay that set `until`.
    pub delay: Duration,
}

impl Backoff {
    /// The backoff after a failure at `now`, following `previous` (doubling, capped).
    pub fn after_failure(previous: Option<&Backoff>, now: Instant) -> Backoff {
        let delay = previous.map_or(RECONNECT_BACKOFF_MIN, |b| {
            (b.delay * 2).min(RECONNECT_BACKOFF_MAX)
        });
        Backoff {
            until: now + delay,
            delay,
        }
    }
}

/// What [`LinkPool::reserve`] found.
pub(crate) enum Reserved {
    /// An open link.
    Open(LinkSender),
    /// The peer failed a moment ago: nothing is queued for it until its backoff ends.
    BackingOff,
    /// A new link's queue, in the pool already (frames may be queued at once); the caller dials with the
    /// writer and reports [`LinkPool::dialled`] or [`LinkPool::dial_failed`].
    Dial(LinkSender, LinkWriter),
}

/// What closing a departed peer's link found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed {
    /// Frames still queued, now discarded.
    pub queued: u64,
}

/// The links this node opened, and the peers in backoff.
pub(crate) struct LinkPool {
    config: std::sync::Arc<LinkConfig>,
    /// Held for a lookup or a change only; never across an `.await`.
    inner: Mutex<Pool>,
    /// Topic messages dropped for slow subscribers on links since closed.
    dropped_on_closed: AtomicU64,
    /// Bumped at every change of the open links, so a cache of them knows when to look again.
    generation: AtomicU64,
}

#[derive(Default)]
struct Pool {
    open: HashMap<NodeId, LinkSender>,
    backoff: HashMap<NodeId, Backoff>,
}

impl LinkPool {
    /// An empty pool whose links use `config`.
    pub fn new(config: LinkConfig) -> Self {
        LinkPool {
            config: std::sync::Arc::new(config),
            inner: Mutex::new(Pool::default()),
            dropped_on_closed: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The links' configuration (identity, key, limits, policy).
    pub fn config(&self) -> &std::sync::Arc<LinkConfig> {
        &self.config
    }

    /// Changes whenever a link is added or removed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The open link to `node`, if any.
    pub fn open(&self, node: &NodeId) -> Option<LinkSender> {
        self.lock()
            .open
            .get(node)
            .filter(|s| !s.is_closed())
            .cloned()
    }

    /// The open link to `node`, else a new queue for one (unless the peer is in its backoff at `now`).
    pub fn reserve(&self, node: NodeId, now: Instant) -> Reserved {
        let mut pool = self.lock();
        if let Some(sender) = pool.open.get(&node).filter(|s| !s.is_closed()) {
            return Reserved::Open(sender.clone());
        }
        if pool.backoff.get(&node).is_some_and(|b| now < b.until) {
            return Reserved::BackingOff;
        }
        let (sender, writer) = self.config.queue();
        if let Some(old) = pool.open.insert(node, sender.clone()) {
            self.dropped_on_closed
                .fetch_add(old.dropped(), Ordering::Relaxed);
        }
        drop(pool);
        self.changed();
        Reserved::Dial(sender, writer)
    }

    /// The link to `node` is up: its backoff is over.
    pub fn dialled(&self, node: &NodeId) {
        self.lock().backoff.remove(node);
    }

    /// Dialling `node` failed at `now`: it is left alone for a while (returned), doubling each time.
    pub fn dial_failed(&self, node: NodeId, now: Instant) -> Duration {
        let mut pool = self.lock();
        let backoff = Backoff::after_failure(pool.backoff.get(&node), now);
        pool.backoff.insert(node, backoff);
        backoff.delay
    }

    /// Closes the link to a peer that left or was lost and forgets its backoff.
    pub fn forget(&self, node: &NodeId) -> Option<Closed> {
        let mut pool = self.lock();
        pool.backoff.remove(node);
        let sender = pool.open.remove(node)?;
        drop(pool);
        self.dropped_on_closed
            .fetch_add(sender.dropped(), Ordering::Relaxed);
        let closed = Closed {
            queued: sender.queued() as u64,
        };
        sender.close();
        self.changed();
        Some(closed)
    }

    /// Says goodbye on every link and closes it (shutdown).
    pub fn close_all(&self) {
        for (_, sender) in self.lock().open.drain() {
            let _ = sender.try_send(Frame::Bye);
            self.dropped_on_closed
                .fetch_add(sender.dropped(), Ordering::Relaxed);
            sender.close();
        }
        self.changed();
    }

    /// Topic messages dropped for slow subscribers so far, on open links and closed ones.
    pub fn dropped_for_slow(&self) -> u64 {
        let open: u64 = self.lock().open.values().map(LinkSender::dropped).sum();
        open + self.dropped_on_closed.load(Ordering::Relaxed)
    }

    /// The open links with their traffic, for the bridge's pushed stats.
    pub fn open_links(&self) -> Vec<herald_core::bridge::LinkInfo> {
        let pool = self.lock();
        pool.open
            .iter()
            .filter(|(_, sender)| !sender.is_closed())
            .map(|(peer, sender)| herald_core::bridge::LinkInfo {
                peer: *peer,
                sent: sender.sent(),
                queued: sender.queued() as u64,
                dropped: sender.dropped(),
                direction: herald_core::bridge::LinkDirection::Outbound,
                received: 0,
            })
            .collect()
    }

    /// Calls `each` with every subscriber in `nodes` and its open link, if it has one.
    pub fn links_of(&self, nodes: &[NodeId], mut each: impl FnMut(NodeId, Option<LinkSender>)) {
        let pool = self.lock();
        for node in nodes {
            each(
                *node,
                pool.open.get(node).filter(|s| !s.is_closed()).cloned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_core::PeerKind;

    use super::*;
    use crate::link::handshake::LocalIdentity;

    fn pool() -> LinkPool {
        let me = LocalIdentity {
            node_id: NodeId::from_bytes([1; 16]),
            name: "me".into(),
            kind: PeerKind::Herald,
        };
        LinkPool::new(LinkConfig::new(me, None))
    }

    #[test]
    fn a_peer_gets_one_link_and_is_left_alone_after_a_failed_dial() {
        let pool = pool();
        let peer = NodeId::from_bytes([2; 16]);
        let now = Instant::now();
        let generation = pool.generation();
        let Reserved::Dial(sender, _writer) = pool.reserve(peer, now) else {
            panic!("no link yet: dial");
        };
        assert_ne!(pool.generation(), generation);
        // While it is being dialled, frames for it go to the same queue.
        let Reserved::Open(again) = pool.reserve(peer, now) else {
            panic!("the reserved link is open for queueing");
        };
        sender.try_send(Frame::Ping { nonce: 1 }).unwrap();
        assert_eq!(again.queued(), 1);
        // The dial fails: the queue is closed and the peer backs off.
        sender.close();
        let delay = pool.dial_failed(peer, now);
        assert_eq!(delay, RECONNECT_BACKOFF_MIN);
        assert!(matches!(pool.reserve(peer, now), Reserved::BackingOff));
        assert!(matches!(
            pool.reserve(peer, now + delay),
            Reserved::Dial(..)
        ));
        // It left: its link is closed, what was queued is reported, its backoff forgotten.
        let closed = pool.forget(&peer).expect("a link was open");
        assert_eq!(closed.queued, 0);
        assert!(pool.open(&peer).is_none());
        assert!(matches!(pool.reserve(peer, now), Reserved::Dial(..)));
    }

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_maximum() {
        let now = Instant::now();
        let first = Backoff::after_failure(None, now);
        assert_eq!(first.delay, RECONNECT_BACKOFF_MIN);
        assert_eq!(first.until, now + RECONNECT_BACKOFF_MIN);
        let second = Backoff::after_failure(Some(&first), now);
        assert_eq!(second.delay, RECONNECT_BACKOFF_MIN * 2);
        let mut last = second;
        for _ in 0..20 {
            last = Backoff::after_failure(Some(&last), now);
        }
        assert_eq!(last.delay, RECONNECT_BACKOFF_MAX);
    }
}
