//! A hein transmitter on a TCP port (`herald node --hein-serve PORT=TOPIC`): existing hein `SocReceiver`s
//! connect to the node as they would to a `SocTransmitter`, and every Herald message on TOPIC (wildcards
//! allowed) reaches each of them as a `__raw__` frame tagged with the topic (within hein's tag rules).
//!
//! Per connection: ACK byte, the receiver's name (one read of at most 15 bytes, within 5 s), then a second ACK
//! once registered. At most `max_receivers` names (hein's 5 by default); a receiver that reconnects under its
//! name replaces the old connection. Receivers appear as `hein-receiver` peers proxied by this node.
//!
//! Flow: each receiver has a bounded queue of encoded frames ([`RECEIVER_QUEUE`]); its writer sends what is
//! queued in one write, then waits for the receiver's ACK byte before the next write, as hein's own transmitter
//! does. A receiver that stops acknowledging is not dropped after a second as in hein: its queue fills, the
//! oldest frames are dropped and counted (`legacy.hein.dropped_for_slow`), and the other receivers go on.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use herald_core::legacy::hein::{self, HeinFrame, ACK, DEFAULT_MAX_RECEIVERS, MAX_NAME_LEN};
use herald_core::PeerKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{LegacyError, MAX_CONNECTIONS};
use crate::messaging::{Delivery, Subscription};
use crate::node::Node;
use crate::proxies::ProxiedPeer;
use crate::stats::bump;

/// Frames held for one receiver; beyond it the oldest is dropped (and counted).
pub const RECEIVER_QUEUE: usize = 1024;
/// Bytes sent in one write at most (several frames, one ACK expected, as hein does when its queue is long).
const WRITE_BATCH: usize = 64 * 1024;
/// How long a new connection has to send its name (hein's transmitter waits 5 s).
const NAME_TIMEOUT: Duration = Duration::from_secs(5);

/// One `--hein-serve PORT=TOPIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeinServeConfig {
    /// TCP port, on the node's address.
    pub port: u16,
    /// Topic or pattern whose messages are sent.
    pub topic: String,
    /// Receivers served at once (names beyond are refused).
    pub max_receivers: usize,
}

impl HeinServeConfig {
    /// Parses `PORT=TOPIC`, with hein's receiver limit.
    pub fn parse(text: &str) -> Result<HeinServeConfig, String> {
        let (port, topic) = text.split_once('=').ok_or("expected PORT=TOPIC")?;
        let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
        crate::topics::TopicPattern::parse(topic).map_err(|e| e.to_string())?;
        Ok(HeinServeConfig {
            port,
            topic: topic.to_owned(),
            max_receivers: DEFAULT_MAX_RECEIVERS,
        })
    }
}

/// A receiver's queue of encoded frames, dropping the oldest when full.
struct FrameQueue {
    frames: Mutex<VecDeque<Arc<[u8]>>>,
    ready: Notify,
    closed: CancellationToken,
}

impl FrameQueue {
    fn new() -> FrameQueue {
        FrameQueue {
            frames: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            closed: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<[u8]>>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame`; true when the oldest frame had to be dropped for it.
    fn push(&self, frame: Arc<[u8]>) -> bool {
        let dropped = {
            let mut frames = self.lock();
            let dropped = frames.len() >= RECEIVER_QUEUE && frames.pop_front().is_some();
            frames.push_back(frame);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    /// Takes queued frames up to about [`WRITE_BATCH`] bytes (at least one), as one buffer.
    fn take_batch(&self, out: &mut Vec<u8>) {
        let mut frames = self.lock();
        while let Some(frame) = frames.front() {
            if !out.is_empty() && out.len() + frame.len() > WRITE_BATCH {
                break;
            }
            out.extend_from_slice(frame);
            frames.pop_front();
        }
    }
}

struct Registered {
    queue: Arc<FrameQueue>,
    generation: u64,
}

/// The receivers of one port, by name.
#[derive(Default)]
struct Receivers {
    by_name: HashMap<String, Registered>,
    next_generation: u64,
}

/// One hein transmitter port.
pub struct HeinTransmitter {
    node: Arc<Node>,
    listener: TcpListener,
    config: HeinServeConfig,
    messages: Subscription,
    receivers: Arc<Mutex<Receivers>>,
}

impl HeinTransmitter {
    /// Listens on the node's address at the configured port and subscribes to the topic.
    pub async fn bind(node: Arc<Node>, config: HeinServeConfig) -> Result<Self, LegacyError> {
        let addr = SocketAddrV4::new(node.local_ip(), config.port);
        let listener = TcpListener::bind(addr).await.map_err(LegacyError::socket(
            "hein transmitter",
            format!("TCP {addr}"),
        ))?;
        let messages = node.subscription(&config.topic)?;
        tracing::info!(%addr, topic = %config.topic, max_receivers = config.max_receivers, "hein transmitter listening");
        Ok(HeinTransmitter {
            node,
            listener,
            config,
            messages,
            receivers: Arc::default(),
        })
    }

    /// Accepts receivers and sends them the topic's messages until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let connections = TaskTracker::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, from)) => {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            bump(&self.node.legacy_counters().hein_refused);
                            tracing::debug!(%from, max = MAX_CONNECTIONS, "too many hein connections; closed");
                            continue;
                        };
                        let connection = Connection {
                            node: self.node.clone(),
                            receivers: self.receivers.clone(),
                            max_receivers: self.config.max_receivers,
                        };
                        let serving = connection.serve(stream, from, shutdown.clone());
                        connections.spawn(async move {
                            serving.await;
                            drop(permit);
                        });
                    }
                    Err(err) => {
                        tracing::debug!(%err, "hein accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                delivery = self.messages.next() => match delivery {
                    Some(Delivery::Message(message)) => self.fan_out(message.topic.as_deref().unwrap_or(""), &message.payload),
                    Some(Delivery::Missed { from, topic, count }) => {
                        tracing::warn!(%from, %topic, count, "messages for hein receivers dropped by their publisher (this gateway read too slowly)");
                    }
                    None => break,
                },
            }
        }
        connections.close();
        connections.wait().await;
    }

    /// Encodes one message as a `__raw__` frame once and queues it for every receiver.
    fn fan_out(&self, topic: &str, body: &[u8]) {
        let counters = self.node.legacy_counters();
        if body.is_empty() {
            // hein refuses to send an empty raw frame; its receivers never see one.
            bump(&counters.hein_unsendable);
            tracing::debug!(%topic, "empty message not sent to hein receivers");
            return;
        }
        let tag = hein::tag_for_topic(topic);
        let mut bytes = Vec::with_capacity(body.len() + 32);
        HeinFrame::raw(Some(&tag), body).encode(&mut bytes);
        let frame: Arc<[u8]> = bytes.into();
        let receivers = lock(&self.receivers);
        for (name, receiver) in &receivers.by_name {
            bump(&counters.hein_frames_sent);
            if receiver.queue.push(frame.clone()) {
                bump(&counters.hein_dropped_for_slow);
                tracing::debug!(receiver = %name, "hein receiver behind; its oldest frame dropped");
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One receiver's connection, from the handshake to its end.
struct Connection {
    node: Arc<Node>,
    receivers: Arc<Mutex<Receivers>>,
    max_receivers: usize,
}

impl Connection {
    async fn serve(self, mut stream: TcpStream, from: SocketAddr, shutdown: CancellationToken) {
        let counters = self.node.legacy_counters();
        let _ = stream.set_nodelay(true);
        let name = match handshake(&mut stream).await {
            Ok(name) => name,
            Err(reason) => {
                bump(&counters.hein_refused);
                tracing::debug!(%from, reason, "hein receiver refused");
                return;
            }
        };
        let Some((queue, generation)) = self.register(&name) else {
            bump(&counters.hein_refused);
            tracing::info!(%from, receiver = %name, max = self.max_receivers, "hein receiver refused: the receiver limit is reached");
            return;
        };
        if stream.write_all(&[ACK]).await.is_err() {
            self.unregister(&name, generation);
            return;
        }
        bump(&counters.hein_receivers);
        let peer = ProxiedPeer {
            name: name.clone(),
            kind: PeerKind::HeinReceiver,
            addr: from.ip(),
            services: Default::default(),
            site: None,
            txt: Default::default(),
        };
        let proxied = match self.node.proxy(peer, None) {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::warn!(receiver = %name, %err, "hein receiver not shown as a peer");
                None
            }
        };
        tracing::info!(%from, receiver = %name, "hein receiver connected");
        let ended = send_frames(&mut stream, &queue, &shutdown).await;
        tracing::info!(%from, receiver = %name, %ended, "hein receiver gone");
        // A replacement under the same name keeps its registration (and its peer).
        if self.unregister(&name, generation) {
            if let Some(id) = proxied {
                self.node.unproxy(id);
            }
        }
    }

    /// Registers `name` (replacing a connection under the same name); `None` at the receiver limit.
    fn register(&self, name: &str) -> Option<(Arc<FrameQueue>, u64)> {
        let mut receivers = lock(&self.receivers);
        if !receivers.by_name.contains_key(name) && receivers.by_name.len() >= self.max_receivers {
            return None;
        }
        receivers.next_generation += 1;
        let generation = receivers.next_generation;
        let queue = Arc::new(FrameQueue::new());
        if let Some(old) = receivers.by_name.insert(
            name.to_owned(),
            Registered {
                queue: queue.clone(),
                generation,
            },
        ) {
            old.queue.closed.cancel();
        }
        Some((queue, generation))
    }

    /// Removes `name` if this connection still holds it; true if it did.
    fn unregister(&self, name: &str, generation: u64) -> bool {
        let mut receivers = lock(&self.receivers);
        match receivers.by_name.get(name) {
            Some(r) if r.generation == generation => {
                receivers.by_name.remove(name);
                true
            }
            _ => false,
        }
    }
}

/// hein's handshake up to the name: ACK, then one read of at most 15 bytes within 5 s.
async fn handshake(stream: &mut TcpStream) -> Result<String, &'static str> {
    stream
        .write_all(&[ACK])
        .await
        .map_err(|_| "closed before the first ACK")?;
    let mut name = [0u8; MAX_NAME_LEN];
    match tokio::time::timeout(NAME_TIMEOUT, stream.read(&mut name)).await {
        Err(_) => Err("no name within 5 s"),
        Ok(Err(_)) | Ok(Ok(0)) => Err("closed before its name"),
        Ok(Ok(len)) => {
            let name = hein::name_from_bytes(&name[..len]);
            if name.chars().any(char::is_control) || name.trim().is_empty() {
                Err("a blank name or one with control characters")
            } else {
                Ok(name)
            }
        }
    }
}

/// Writes queued frames, one write per ACK, until the connection ends; says why it ended.
async fn send_frames(
    stream: &mut TcpStream,
    queue: &FrameQueue,
    shutdown: &CancellationToken,
) -> &'static str {
    let (mut reader, mut writer) = stream.split();
    let mut batch = Vec::new();
    let mut acks = [0u8; 64];
    let mut acked = true;
    loop {
        if acked {
            batch.clear();
            queue.take_batch(&mut batch);
            if !batch.is_empty() {
                if writer.write_all(&batch).await.is_err() {
                    return "write failed";
                }
                acked = false;
                continue;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return "gateway stopping",
            _ = queue.closed.cancelled() => return "replaced by a new connection under its name",
            _ = queue.ready.notified(), if acked => {}
            read = reader.read(&mut acks) => match read {
                Ok(0) | Err(_) => return "connection closed",
                // hein receivers send ACKs only; anything else is ignored (hein would drop the receiver).
                Ok(len) => acked |= acks[..len].contains(&ACK),
            },
        }
    }
}
