//! Helpers shared by the node's socket tests: a group port per test, a fast loopback node config, and a node
//! that can crash.

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

/// A node on a runtime of its own, so a test can kill it without a leave beacon (like `kill -9`).
#[allow(dead_code)] // not every test binary uses it
pub struct Crashable {
    crash: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

#[allow(dead_code)] // not every test binary uses it
impl Crashable {
    /// Starts the node on its own thread and runtime; returns once it runs.
    pub fn start(config: NodeConfig) -> Crashable {
        let (started, crash) = (
            std::sync::mpsc::sync_channel(1),
            std::sync::mpsc::sync_channel::<()>(1),
        );
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let node = runtime
                .block_on(herald_node::node::Node::start(config))
                .unwrap();
            started.0.send(()).unwrap();
            let _ = crash.1.recv();
            // Dropping the runtime stops every task at once: no leave beacon, no link closed politely.
            std::mem::forget(node);
            drop(runtime);
        });
        started.1.recv().unwrap();
        Crashable {
            crash: crash.0,
            thread,
        }
    }

    /// Kills the node and waits until it is gone.
    pub fn crash(self) {
        self.crash.send(()).unwrap();
        self.thread.join().unwrap();
    }
}
