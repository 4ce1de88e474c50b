//! The connected clients and the fan-out of events to them: one small shared type, [`Hub`].
//!
//! Each client has a bounded queue of serialized events (an event is serialized once, whatever the number of
//! clients). A full queue never waits: the event is dropped for that client and counted, the client is told
//! the count (`lagged`) before its next event, and a client that keeps dropping for the lag limit is
//! disconnected. So a slow browser never slows the node or the other clients.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use herald_core::bridge::BridgeEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::RECENT_EVENTS;
use crate::counters::{bump, BridgeCounters};

/// A connected client, numbered from 1 in connection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client-{}", self.0)
    }
}

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every client (and kept for new clients' snapshots).
    All,
    /// One client (a reply-like event: its answers, its topic's message).
    Client(ClientId),
    /// These clients.
    Clients(Vec<ClientId>),
}

/// One client's side of the fan-out.
pub(crate) struct Slot {
    queue: mpsc::Sender<Utf8Bytes>,
    /// Events dropped since the last `lagged` notice.
    missed: AtomicU64,
    /// When this client started dropping (ms since the hub started, 0 = not behind).
    behind_since_ms: AtomicU64,
    /// Cancelled to disconnect the client.
    pub(crate) kick: CancellationToken,
}

impl Slot {
    /// Events dropped since the last call; the writer sends a `lagged` notice when non-zero.
    pub(crate) fn take_missed(&self) -> u64 {
        self.missed.swap(0, Ordering::Relaxed)
    }

    /// A sender into this client's queue, for replies (which wait for room rather than being dropped).
    pub(crate) fn sender(&self) -> mpsc::Sender<Utf8Bytes> {
        self.queue.clone()
    }

    /// The writer emptied the queue: the client has caught up.
    pub(crate) fn caught_up(&self) {
        self.behind_since_ms.store(0, Ordering::Relaxed);
    }
}

/// The clients, the recent events and the counters.
pub(crate) struct Hub {
    clients: RwLock<HashMap<ClientId, Arc<Slot>>>,
    recent: Mutex<VecDeque<BridgeEvent>>,
    next_id: AtomicU64,
    started: Instant,
    queue_capacity: usize,
    max_clients: usize,
    lag_limit: Duration,
    pub(crate) counters: BridgeCounters,
}

impl Hub {
    pub(crate) fn new(queue_capacity: usize, max_clients: usize, lag_limit: Duration) -> Hub {
        Hub {
            clients: RwLock::new(HashMap::new()),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_EVENTS)),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            queue_capacity: queue_capacity.max(1),
            max_clients,
            lag_limit,
            counters: BridgeCounters::default(),
        }
    }

    /// Adds a client, or `None` when `max_clients` are connected.
    pub(crate) fn register(&self) -> Option<(ClientId, Arc<Slot>, mpsc::Receiver<Utf8Bytes>)> {
        let mut clients = self.clients.write().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= self.max_clients {
            bump(&self.counters.refused_full);
            return None;
        }
        let id = ClientId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (queue, rx) = mpsc::channel(self.queue_capacity);
        let slot = Arc::new(Slot {
            queue,
            missed: AtomicU64::new(0),
            behind_since_ms: AtomicU64::new(0),
            kick: CancellationToken::new(),
        });
        clients.insert(id, slot.clone());
        Some((id, slot, rx))
    }

    pub(crate) fn unregister(&self, id: ClientId) {
        self.clients
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// True when `max_clients` are connected (checked before an upgrade; [`Hub::register`] has the last word).
    pub(crate) fn is_full(&self) -> bool {
        self.client_count() >= self.max_clients
    }

    /// Clients connected now.
    pub(crate) fn client_count(&self) -> usize {
        self.clients.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Events waiting in all clients' queues.
    pub(crate) fn queued(&self) -> usize {
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
        clients
            .values()
            .map(|slot| self.queue_capacity - slot.queue.capacity())
            .sum()
    }

    /// The recent events to everyone, oldest first.
    pub(crate) fn recent(&self) -> Vec<BridgeEvent> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().cloned().collect()
    }

    /// Queues `event` for its audience without ever waiting.
    pub(crate) fn emit(&self, audience: &Audience, event: &BridgeEvent) {
        if matches!(audience, Audience::All) && worth_recalling(event) {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_EVENTS {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        let text = Utf8Bytes::from(event.to_json());
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
        match audience {
            Audience::All => {
                for slot in clients.values() {
                    self.offer(slot, &text);
                }
            }
            Audience::Client(id) => {
                if let Some(slot) = clients.get(id) {
                    self.offer(slot, &text);
                }
            }
            Audience::Clients(ids) => {
                for slot in ids.iter().filter_map(|id| clients.get(id)) {
                    self.offer(slot, &text);
                }
            }
        }
    }

    fn offer(&self, slot: &Slot, text: &Utf8Bytes) {
        match slot.queue.try_send(text.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                slot.missed.fetch_add(1, Ordering::Relaxed);
                bump(&self.counters.events_dropped);
                let now = (self.started.elapsed().as_millis() as u64).max(1);
                let since = match slot.behind_since_ms.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => now,
                    Err(since) => since,
                };
                if now - since >= self.lag_limit.as_millis() as u64 && !slot.kick.is_cancelled() {
                    bump(&self.counters.disconnected_slow);
                    slot.kick.cancel();
                }
            }
        }
    }
}

/// Events a new client is shown from the past: what happened on the LAN, not replies or counters.
fn worth_recalling(event: &BridgeEvent) -> bool {
    matches!(
        event,
        BridgeEvent::PeerJoined { .. }
            | BridgeEvent::PeerChanged { .. }
            | BridgeEvent::PeerLeft { .. }
            | BridgeEvent::PeerLost { .. }
            | BridgeEvent::Message(_)
            | BridgeEvent::IpChanged(_)
            | BridgeEvent::NodeError { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(n: u32) -> BridgeEvent {
        BridgeEvent::NodeError {
            context: "test".into(),
            message: n.to_string(),
        }
    }

    #[test]
    fn a_full_queue_drops_counts_and_tells_the_client_then_kicks_it_after_the_lag_limit() {
        let hub = Hub::new(2, 10, Duration::ZERO);
        let (id, slot, mut rx) = hub.register().unwrap();
        for n in 0..5 {
            hub.emit(&Audience::Client(id), &error(n));
        }
        assert_eq!(slot.take_missed(), 3);
        assert_eq!(slot.take_missed(), 0);
        assert!(rx.try_recv().unwrap().as_str().contains("\"0\""));
        assert!(rx.try_recv().unwrap().as_str().contains("\"1\""));
        // A zero lag limit: the first drop already counts as staying behind.
        assert!(slot.kick.is_cancelled());
        assert_eq!(hub.counters.events_dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_slow_client_does_not_cost_a_fast_one_anything() {
        let hub = Hub::new(4, 10, Duration::from_secs(60));
        let (_, slow, _slow_rx) = hub.register().unwrap();
        let (_, fast, mut fast_rx) = hub.register().unwrap();
        for n in 0..10 {
            hub.emit(&Audience::All, &error(n));
            assert!(fast_rx.try_recv().is_ok());
        }
        assert_eq!(slow.take_missed(), 6);
        assert_eq!(fast.take_missed(), 0);
        assert!(!slow.kick.is_cancelled());
        assert_eq!(hub.recent().len(), 10);
    }

    #[test]
    fn audiences_reach_only_their_clients_and_the_client_bound_holds() {
        let hub = Hub::new(8, 2, Duration::from_secs(60));
        let (a, _, mut a_rx) = hub.register().unwrap();
        let (b, _, mut b_rx) = hub.register().unwrap();
        assert!(hub.register().is_none());
        hub.emit(&Audience::Client(a), &error(1));
        hub.emit(&Audience::Clients(vec![b]), &error(2));
        assert!(a_rx.try_recv().unwrap().as_str().contains("\"1\""));
        assert!(a_rx.try_recv().is_err());
        assert!(b_rx.try_recv().unwrap().as_str().contains("\"2\""));
        // Events to one client are not recalled for newcomers.
        assert!(hub.recent().is_empty());
        hub.unregister(a);
        assert_eq!(hub.client_count(), 1);
    }
}
