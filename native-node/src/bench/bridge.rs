//! The bridge benchmark: a node with its bridge on loopback and C WebSocket clients (tokio-tungstenite) in
//! this same process, all subscribed to one topic through the bridge.
//!
//! Events: the node publishes E messages on the topic at a steady rate chosen so that `rate` frames per
//! second reach the clients in total (E × C frames in all); each message carries the instant it was
//! published, and each client notes the delay to its receipt (node event → parsed on the client). The path
//! is the real one: `Node::publish` → the node's subscription → the bridge's fan-out (one serialization,
//! C bounded queues) → WebSocket writes → the client's read and JSON parse.
//!
//! Commands: meanwhile the clients send `peers` requests, `command_rate` per second in total, and time each
//! round trip to its reply.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use herald_bridge::{Bridge, BridgeConfig};
use herald_core::bridge::{BridgeCommand, BridgeEvent, BridgeRequest};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::proc_status_kib;
use crate::bridge_adapter::NodeBridge;
use crate::identity::random_node_id;
use crate::node::Node;
use crate::NodeConfig;

/// The topic every client subscribes to.
const TOPIC: &str = "bench.bridge";
/// Bytes a bench client reads from its socket at a time (events are a few hundred bytes).
const CLIENT_READ_BUFFER: usize = 1024;
/// Clients connecting at once while the run sets up.
const CONNECT_BATCH: usize = 50;

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct BridgeFigures {
    /// Always `"bridge"`.
    pub workload: &'static str,
    /// WebSocket clients.
    pub clients: usize,
    /// Messages published (each goes to every client).
    pub events: u64,
    /// Frames the clients should receive (events × clients).
    pub frames_expected: u64,
    /// Frames they received.
    pub frames_delivered: u64,
    /// Frames the bridge dropped for clients behind (each announced in a `lagged` notice).
    pub frames_dropped: u64,
    /// Frames per second delivered, over the publishing window plus the drain.
    pub frames_per_s: f64,
    /// Node event to client receipt: median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Slowest (ms).
    pub max_ms: f64,
    /// `peers` commands answered.
    pub commands: u64,
    /// Commands per second answered.
    pub commands_per_s: f64,
    /// Command round trip, 99th percentile (ms).
    pub command_p99_ms: f64,
    /// Publishing window plus drain (s).
    pub seconds: f64,
    /// Time to connect and subscribe every client (s).
    pub connect_seconds: f64,
    /// Peak resident memory of the whole process (node, bridge and clients), KiB.
    pub peak_rss_kib: u64,
}

/// What one client measured.
#[derive(Default)]
struct ClientLog {
    latencies_us: Vec<u32>,
    missed: u64,
    command_rtts_us: Vec<u32>,
}

/// Runs the benchmark: `clients` clients, `events` messages, `rate` frames/s delivered in total and
/// `command_rate` commands/s in total, the node on multicast port `port` of 127.0.0.1.
pub async fn run(
    clients: usize,
    events: u64,
    rate: f64,
    command_rate: f64,
    port: u16,
) -> anyhow::Result<BridgeFigures> {
    anyhow::ensure!(
        clients > 0 && events > 0 && rate > 0.0,
        "nothing to measure"
    );
    raise_open_files(clients as u64 * 2 + 256)?;
    let mut config = NodeConfig::loopback("bench-bridge", port);
    config.node_id = Some(random_node_id());
    config.claim_wait = Duration::ZERO;
    let node = Arc::new(Node::start(config).await?);
    let mut bridge_config = BridgeConfig::new("127.0.0.1:0".parse()?);
    bridge_config.dashboard_dir = None;
    bridge_config.max_clients = clients + 16;
    let (bridge, requests) = Bridge::start(bridge_config).await?;
    let forwarding = NodeBridge::start(
        node.clone(),
        None,
        bridge.clone(),
        requests,
        Default::default(),
    );
    let url = format!("ws://{}/ws", bridge.local_addr());

    let connecting = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    while sockets.len() < clients {
        let batch = CONNECT_BATCH.min(clients - sockets.len());
        let mut connects = JoinSet::new();
        for _ in 0..batch {
            connects.spawn(connect_and_subscribe(url.clone()));
        }
        while let Some(socket) = connects.join_next().await {
            sockets.push(socket??);
        }
    }
    let connect_seconds = connecting.elapsed().as_secs_f64();

    let epoch = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let command_every = Duration::from_secs_f64(clients as f64 / command_rate.max(0.001));
    let mut readers = JoinSet::new();
    for (n, socket) in sockets.into_iter().enumerate() {
        // Spread the clients' command ticks over one interval.
        let offset = command_every.mul_f64(n as f64 / clients as f64);
        readers.spawn(client(
            socket,
            epoch,
            events,
            command_every,
            offset,
            stop_rx.clone(),
        ));
    }

    let publish_every = Duration::from_secs_f64(clients as f64 / rate);
    let started = Instant::now();
    let mut tick = tokio::time::interval(publish_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..events {
        tick.tick().await;
        let sent_us = epoch.elapsed().as_micros() as u64;
        node.publish(TOPIC, sent_us.to_string()).await?;
    }
    // Let every client finish (each stops once it has all events or was told what it missed).
    let mut logs = Vec::with_capacity(clients);
    let drain = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(drain);
    let mut stopped = false;
    loop {
        tokio::select! {
            joined = readers.join_next() => match joined {
                Some(log) => logs.push(log?),
                None => break,
            },
            _ = &mut drain, if !stopped => {
                stopped = true;
                let _ = stop_tx.send(true);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let peak_rss_kib = proc_status_kib("VmHWM").unwrap_or(0);
    forwarding.shutdown().await;
    bridge.shutdown().await;
    drop(node);

    let mut latencies: Vec<u32> = logs
        .iter()
        .flat_map(|l| l.latencies_us.iter().copied())
        .collect();
    let mut rtts: Vec<u32> = logs
        .iter()
        .flat_map(|l| l.command_rtts_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    rtts.sort_unstable();
    let delivered = latencies.len() as u64;
    Ok(BridgeFigures {
        workload: "bridge",
        clients,
        events,
        frames_expected: events * clients as u64,
        frames_delivered: delivered,
        frames_dropped: logs.iter().map(|l| l.missed).sum(),
        frames_per_s: delivered as f64 / seconds,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        commands: rtts.len() as u64,
        commands_per_s: rtts.len() as f64 / seconds,
        command_p99_ms: percentile_ms(&rtts, 0.99),
        seconds,
        connect_seconds,
        peak_rss_kib,
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, reads the snapshot and subscribes to the topic (waiting for the reply).
async fn connect_and_subscribe(url: String) -> anyhow::Result<Socket> {
    // A read buffer the size of a few events (the library zeroes it before every read, so the default
    // 128 KiB would make the bench's clients, not the bridge, the bottleneck), and no Nagle delay.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?;
    let request = BridgeRequest {
        id: 0,
        command: BridgeCommand::Subscribe {
            topic: TOPIC.into(),
        },
    };
    socket.send(Message::text(request.to_json())).await?;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            if let BridgeEvent::Reply(reply) = BridgeEvent::from_json(&text)? {
                anyhow::ensure!(reply.id == Some(0), "unexpected reply {reply:?}");
                return Ok(socket);
            }
        }
    }
    anyhow::bail!("the bridge closed the connection while subscribing")
}

/// One client: reads events until it has `events` messages (or was told it missed the rest), sending a
/// `peers` request every `command_every`.
async fn client(
    socket: Socket,
    epoch: Instant,
    events: u64,
    command_every: Duration,
    offset: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ClientLog {
    let (mut sink, mut stream) = socket.split();
    let mut log = ClientLog::default();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + offset + command_every,
        command_every,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut next_id = 1;
    let stopped = stop.changed();
    tokio::pin!(stopped);
    while (log.latencies_us.len() as u64 + log.missed) < events {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {
                let request = BridgeRequest { id: next_id, command: BridgeCommand::Peers };
                in_flight.push_back((next_id, Instant::now()));
                next_id += 1;
                if sink.send(Message::text(request.to_json())).await.is_err() {
                    break;
                }
            }
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(text) = message else { continue };
                match BridgeEvent::from_json(&text) {
                    Ok(BridgeEvent::Message(message)) => {
                        let now_us = epoch.elapsed().as_micros() as u64;
                        if let Some(sent_us) = message.payload.as_text().and_then(|t| t.parse::<u64>().ok()) {
                            log.latencies_us.push(now_us.saturating_sub(sent_us).min(u32::MAX as u64) as u32);
                        }
                    }
                    Ok(BridgeEvent::Lagged { missed }) => log.missed += missed,
                    Ok(BridgeEvent::Reply(reply)) => {
                        if let Some(at) = in_flight.iter().position(|(id, _)| Some(*id) == reply.id) {
                            let (_, sent) = in_flight.remove(at).expect("the position is valid");
                            log.command_rtts_us.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    log
}

fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let at = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[at] as f64 / 1000.0
}

/// Raises this process's open-file limit to at least `wanted` (up to the hard limit).
fn raise_open_files(wanted: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        anyhow::ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0,
            "getrlimit failed"
        );
        if limit.rlim_cur >= wanted {
            return Ok(());
        }
        limit.rlim_cur = wanted.min(limit.rlim_max);
        anyhow::ensure!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0,
            "setrlimit failed"
        );
    }
    anyhow::ensure!(
        limit.rlim_cur >= wanted,
        "the open-file limit is {} (hard), {wanted} needed: raise it (ulimit -Hn)",
        limit.rlim_max
    );
    Ok(())
}
