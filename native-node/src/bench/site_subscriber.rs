//! The subscriber process of the sites benchmark (`herald-bench site-subscriber`), one per timed run, so
//! that both paths are measured the way peers-bench measures NATS: the publisher in the benchmark's process,
//! the subscriber in a process of its own. It is either a Herald node at site B (subscribed to the
//! benchmark's topic, fed by site B's gateway) or a plain NATS client subscribed to the plain pair's subject.
//!
//! It says `ready` once subscribed and `warm` when the first warm-up message (payload [`WARM`]) arrived; it
//! then counts the timed messages (any other payload) until it has `messages` of them or none came for
//! [`QUIET`] (core NATS may drop under load), and says its figures as one JSON line
//! ([`SiteSubscriberFigures`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::cpu_time;
use super::pubsub_processes::unix_ns;
use crate::identity::random_node_id;
use crate::messaging::Delivery;
use crate::node::Node;
use crate::queue::OverflowPolicy;
use crate::NodeConfig;

/// The topic the benchmark publishes on.
pub const TOPIC: &str = "bench.sites";
/// A run ends when nothing has arrived for this long (core NATS may drop under load: counted as lost).
pub const QUIET: Duration = Duration::from_secs(3);
/// The queue bound of every NATS subscription in the benchmark (the plain pair's subscriber and both
/// gateways'), so that neither path drops for a queue the other would not have.
pub const NATS_SUBSCRIPTION_CAPACITY: usize = 1 << 20;

/// The configuration of every node of the sites benchmark, `name` on group port `port` of 127.0.0.1:
/// lossless (`block`), quick to claim its name and to be heard.
pub(crate) fn node_config(name: &str, port: u16) -> NodeConfig {
    let mut config = NodeConfig::loopback(name, port);
    config.node_id = Some(random_node_id());
    config.claim_wait = Duration::ZERO;
    config.heartbeat = Duration::from_millis(200);
    config.overflow = OverflowPolicy::Block;
    config
}

/// The warm-up payload: sent until the subscriber says `warm`; never a timed message's.
pub const WARM: &[u8] = b"warm";

/// Which subscriber this process is.
#[derive(Debug, Clone)]
pub enum Subscriber {
    /// A Herald node named `sub` on the group port of site B.
    Herald {
        /// Site B's multicast group port on 127.0.0.1.
        port: u16,
    },
    /// A plain NATS client subscribed to `subject`.
    Nats {
        /// The server.
        url: String,
        /// The subject.
        subject: String,
    },
}

/// What the subscriber process reports at the end of its run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteSubscriberFigures {
    /// Timed messages received.
    pub delivered: u64,
    /// When the last one arrived (unix ns).
    pub last_ns: u128,
    /// The process's CPU time (user + system) from the warm-up message to its report, µs.
    pub cpu_us: u64,
}

/// Shared between the counting task and the task that decides when the run is over.
#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    last_ns: AtomicU64,
}

/// Runs the subscriber process's side: subscribes, says `ready`, `warm`, then its figures, through `say`
/// (which prints a line where the benchmark reads it).
pub async fn run(
    subscriber: Subscriber,
    messages: u64,
    mut say: impl FnMut(&str),
) -> anyhow::Result<()> {
    match subscriber {
        Subscriber::Herald { port } => {
            let node = Node::start(node_config("sub", port)).await?;
            let subscription = node.subscription(TOPIC)?;
            let stream = futures::stream::unfold(subscription, |mut subscription| async move {
                loop {
                    match subscription.next().await? {
                        Delivery::Message(message) => return Some((message.payload, subscription)),
                        Delivery::Missed { count, .. } => tracing::warn!(count, "missed"),
                    }
                }
            });
            say("ready");
            count(stream, messages, say).await?;
            node.shutdown().await;
        }
        Subscriber::Nats { url, subject } => {
            let client = async_nats::ConnectOptions::new()
                .subscription_capacity(NATS_SUBSCRIPTION_CAPACITY)
                .connect(&url)
                .await?;
            let subscription = client.subscribe(subject).await?;
            client.flush().await?;
            say("ready");
            count(subscription.map(|message| message.payload), messages, say).await?;
        }
    }
    Ok(())
}

/// Counts the payloads of `stream`: `warm` at the first warm-up one, then timed ones until `messages` or
/// [`QUIET`], then the figures.
async fn count(
    stream: impl Stream<Item = bytes::Bytes> + Send + 'static,
    messages: u64,
    mut say: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut stream = Box::pin(stream);
    match stream.next().await {
        Some(payload) if payload.as_ref() == WARM => {}
        Some(_) => anyhow::bail!("a timed message before the warm-up one"),
        None => anyhow::bail!("the subscription ended before the warm-up message"),
    }
    let cpu_start = cpu_time(std::process::id());
    say("warm");
    // The counting task takes no timer per message (its wake-ups would be part of what is measured): the
    // quiet check runs beside it, ten times a second.
    let tally = Arc::new(Tally::default());
    let counting = tokio::spawn({
        let tally = tally.clone();
        async move {
            let mut delivered = 0;
            while let Some(payload) = stream.next().await {
                if payload.as_ref() == WARM {
                    continue; // a warm-up message still in flight
                }
                delivered += 1;
                tally.last_ns.store(unix_ns() as u64, Ordering::Relaxed);
                tally.delivered.store(delivered, Ordering::Release);
                if delivered == messages {
                    break;
                }
            }
        }
    });
    let (mut seen, mut since) = (0, Instant::now());
    while !counting.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tally.delivered.load(Ordering::Acquire);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= QUIET {
            counting.abort();
            break;
        }
    }
    let figures = SiteSubscriberFigures {
        delivered: tally.delivered.load(Ordering::Acquire),
        last_ns: tally.last_ns.load(Ordering::Relaxed) as u128,
        cpu_us: cpu_time(std::process::id())
            .saturating_sub(cpu_start)
            .as_micros() as u64,
    };
    say(&serde_json::to_string(&figures)?);
    Ok(())
}
