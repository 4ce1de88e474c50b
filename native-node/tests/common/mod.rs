//! Helpers shared by the node's socket tests: a group port per test, and a fast loopback node config.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use herald_node::identity::random_node_id;
use herald_node::NodeConfig;

/// How long a test waits for an event before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A multicast group port for one test: `base` plus a per-process offset and a counter (tests in one binary
/// run in parallel; each binary passes its own base).
#[allow(dead_code)] // not every test binary uses it
pub fn port(base: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    base + (std::process::id() % 500) as u16 * 20 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A node on loopback: fresh random id, 200 ms heartbeat, no name-claim wait.
pub fn config(name: &str, port: u16) -> NodeConfig {
    let mut config = NodeConfig::loopback(name, port);
    config.node_id = Some(random_node_id());
    config.heartbeat = Duration::from_millis(200);
    config.claim_wait = Duration::ZERO;
    config
}
