//! The discovery benchmark: N nodes as tasks in one process, each with its own sockets, on loopback.
//!
//! It measures, for one N: the time from starting every node at once until every node sees every other
//! (convergence); the time until a graceful leave is seen by all; the time until all notice a crashed node
//! (its runtime dropped: no leave beacon), also in heartbeats; and beacon bytes sent per second per node in the
//! steady state (once no peer list has gone out for two heartbeats).
//!
//! With `seeds`, multicast cannot join the nodes: each has its own loopback address (127.0.30.2 onwards) and
//! its own group port, and every node but the first (the seed) is given the first as its seed, so the figures
//! are those of the unicast mesh.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::{InterfaceSpec, Seed};
use crate::discovery::peers::PeerChange;
use crate::events::NodeEvent;
use crate::identity::random_node_id;
use crate::node::Node;
use crate::NodeConfig;

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryFigures {
    /// Always `"discovery"`.
    pub bench: &'static str,
    /// Nodes in the run.
    pub nodes: usize,
    /// True when the nodes found each other through a seed (multicast cannot join them).
    pub seeds: bool,
    /// Heartbeat of every node.
    pub heartbeat_ms: u64,
    /// From starting all nodes to every node seeing all others.
    pub converge_ms: f64,
    /// `converge_ms` in heartbeats.
    pub converge_heartbeats: f64,
    /// From one node's graceful shutdown to every other node seeing it left.
    pub leave_seen_ms: f64,
    /// From one node's crash to every other node reporting it lost.
    pub crash_detect_ms: f64,
    /// `crash_detect_ms` in heartbeats.
    pub crash_detect_heartbeats: f64,
    /// From convergence until no peer list went out for two heartbeats (the steady state's start).
    pub settle_ms: f64,
    /// Discovery bytes sent per node per second, steady state (datagram bytes, no IP or UDP headers).
    pub beacon_bytes_per_sec_per_node: f64,
    /// Steady-state window the bytes were measured over.
    pub steady_secs: f64,
}

/// Runs the benchmark with `nodes` nodes on group port `port` of 127.0.0.1; with `seeds`, on group ports
/// `port` to `port + nodes - 1`, one per node, each node on its own address, all seeded by the first.
pub async fn run(
    nodes: usize,
    port: u16,
    heartbeat: Duration,
    steady: Duration,
    seeds: bool,
) -> anyhow::Result<DiscoveryFigures> {
    anyhow::ensure!(nodes >= 3, "the discovery bench needs at least 3 nodes");
    anyhow::ensure!(
        !seeds || (nodes <= 250 * 20 && usize::from(port) + nodes <= 65_535),
        "too many nodes for the seeds mode's addresses and ports"
    );
    let address =
        |i: usize| std::net::Ipv4Addr::new(127, 0, 30 + (i / 250) as u8, 2 + (i % 250) as u8);
    let config = |i: usize| {
        let mut config = NodeConfig::loopback(format!("bench-{i}"), port);
        config.node_id = Some(random_node_id());
        config.heartbeat = heartbeat;
        config.claim_wait = Duration::ZERO;
        if seeds {
            config.interface = InterfaceSpec::Addr(address(i));
            config.group.set_port(port + i as u16);
            config.discovery_port = Some(port);
            if i > 0 {
                config.seeds = vec![Seed {
                    host: address(0).to_string(),
                    port,
                }];
            }
        }
        config
    };

    // The crashing node runs on its own runtime, so it can die without a leave beacon.
    let crash_config = config(nodes - 1);
    let (crash_started, crash_now) = (
        std::sync::mpsc::sync_channel(1),
        std::sync::mpsc::sync_channel::<()>(1),
    );
    let start = Instant::now();
    let crasher = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let node = runtime.block_on(Node::start(crash_config))?;
        crash_started.0.send(()).ok();
        let _ = crash_now.1.recv();
        std::mem::forget(node);
        drop(runtime);
        Ok(())
    });
    let mut starting = JoinSet::new();
    for i in 0..nodes - 1 {
        let config = config(i);
        starting.spawn(async move { (i, Node::start(config).await) });
    }
    let mut started: Vec<(usize, Node)> = Vec::with_capacity(nodes);
    while let Some(joined) = starting.join_next().await {
        let (i, node) = joined?;
        started.push((i, node?));
    }
    started.sort_by_key(|(i, _)| *i);
    let live: Vec<Node> = started.into_iter().map(|(_, node)| node).collect();
    crash_started.1.recv()?;

    // Convergence: every node has seen all others.
    let everyone = nodes - 1;
    let converge = wait_all(
        &live,
        |node| node.peers().len() >= everyone,
        Duration::from_secs(30),
    )
    .await;
    let converge_ms = ms(start.elapsed());
    let converge_heartbeats = start.elapsed().as_secs_f64() / heartbeat.as_secs_f64();
    anyhow::ensure!(converge, "nodes did not converge within 30 s");

    // Settling: after convergence, nodes still hand peer lists to the peers they met; the steady state starts
    // when no peer list went out for two heartbeats (at most 30 s).
    let total = |nodes: &[Node], counter: &str| -> u64 {
        nodes.iter().map(|n| n.stats().counters[counter]).sum()
    };
    let settle_start = Instant::now();
    let mut lists = total(&live, "discovery.peer_lists.sent");
    while settle_start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(heartbeat * 2).await;
        let now = total(&live, "discovery.peer_lists.sent");
        if now == lists {
            break;
        }
        lists = now;
    }
    let settle_ms = ms(settle_start.elapsed());

    // Steady state: bytes sent per node per second.
    let bytes = |nodes: &[Node]| total(nodes, "discovery.bytes_sent");
    let before = bytes(&live);
    tokio::time::sleep(steady).await;
    let per_node_per_sec =
        (bytes(&live) - before) as f64 / (live.len() as f64 * steady.as_secs_f64());

    // Crash: every surviving node reports the crashed one lost.
    let crashed_name = format!("bench-{}", nodes - 1);
    let mut waiting = watch_all(&live, &crashed_name, PeerChange::Lost);
    let crash_at = Instant::now();
    crash_now.0.send(()).ok();
    crasher
        .join()
        .map_err(|_| anyhow::anyhow!("crashing node panicked"))??;
    while let Some(result) = waiting.join_next().await {
        anyhow::ensure!(result?, "a node never reported the crashed node lost");
    }
    let crash_detect = crash_at.elapsed();

    // Graceful leave: one node shuts down; every other sees it left.
    let mut live = live;
    let leaver = live.pop().expect("at least two live nodes");
    let mut waiting = watch_all(&live, leaver.name(), PeerChange::Left);
    let leave_at = Instant::now();
    leaver.shutdown().await;
    while let Some(result) = waiting.join_next().await {
        anyhow::ensure!(result?, "a node never saw the leave");
    }
    let leave_seen = leave_at.elapsed();
    for node in live {
        node.shutdown().await;
    }
    Ok(DiscoveryFigures {
        bench: "discovery",
        nodes,
        seeds,
        heartbeat_ms: heartbeat.as_millis() as u64,
        converge_ms,
        converge_heartbeats,
        leave_seen_ms: ms(leave_seen),
        crash_detect_ms: ms(crash_detect),
        crash_detect_heartbeats: crash_detect.as_secs_f64() / heartbeat.as_secs_f64(),
        settle_ms,
        beacon_bytes_per_sec_per_node: per_node_per_sec,
        steady_secs: steady.as_secs_f64(),
    })
}

/// Polls every node until `done` holds for all (1 ms apart) or `limit` passes.
async fn wait_all(nodes: &[Node], done: impl Fn(&Node) -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if nodes.iter().all(&done) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// One task per node, each resolving to `true` when that node reports `change` for `name` (30 s at most).
fn watch_all(nodes: &[Node], name: &str, change: PeerChange) -> JoinSet<bool> {
    let mut set = JoinSet::new();
    for node in nodes {
        let mut events = node.events();
        let (name, change) = (name.to_owned(), change.clone());
        set.spawn(async move {
            let seen = async {
                while let Some(event) = events.next().await {
                    if let NodeEvent::Peer(event) = event {
                        if event.peer.name == name && event.change == change {
                            return true;
                        }
                    }
                }
                false
            };
            tokio::time::timeout(Duration::from_secs(30), seen)
                .await
                .unwrap_or(false)
        });
    }
    set
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
