//! The bridge's own counters, named as `/metrics` and the `stats` command show them (`bridge.*`).

use std::sync::atomic::{AtomicU64, Ordering};

use herald_core::bridge::Stats;

/// Counters of one bridge. Relaxed atomics: each is independent.
#[derive(Debug, Default)]
pub struct BridgeCounters {
    /// Connections upgraded to WebSocket.
    pub connections: AtomicU64,
    /// Upgrades refused for a missing or wrong token.
    pub refused_token: AtomicU64,
    /// Upgrades refused for their Origin.
    pub refused_origin: AtomicU64,
    /// Upgrades refused because `max_clients` were connected.
    pub refused_full: AtomicU64,
    /// Events dropped for clients whose queue was full (each client was told its count).
    pub events_dropped: AtomicU64,
    /// Clients disconnected for staying behind longer than the lag limit.
    pub disconnected_slow: AtomicU64,
    /// Clients closed for not answering pings.
    pub disconnected_silent: AtomicU64,
    /// Requests handed to the node.
    pub commands: AtomicU64,
    /// Requests refused as malformed (not JSON, unknown command, binary frame).
    pub bad_requests: AtomicU64,
    /// Events sent to clients.
    pub events_sent: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl BridgeCounters {
    /// Every counter by name, plus the gauges given (clients connected, events queued).
    pub fn snapshot(&self, clients: usize, queued: usize) -> Stats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut stats = Stats::default();
        for (name, value) in [
            ("bridge.clients", clients as u64),
            ("bridge.queued_events", queued as u64),
            ("bridge.connections", read(&self.connections)),
            ("bridge.refused.token", read(&self.refused_token)),
            ("bridge.refused.origin", read(&self.refused_origin)),
            ("bridge.refused.full", read(&self.refused_full)),
            ("bridge.events_dropped", read(&self.events_dropped)),
            ("bridge.events_sent", read(&self.events_sent)),
            ("bridge.disconnected.slow", read(&self.disconnected_slow)),
            (
                "bridge.disconnected.silent",
                read(&self.disconnected_silent),
            ),
            ("bridge.commands", read(&self.commands)),
            ("bridge.bad_requests", read(&self.bad_requests)),
        ] {
            stats.counters.insert(name.to_owned(), value);
        }
        stats
    }
}
