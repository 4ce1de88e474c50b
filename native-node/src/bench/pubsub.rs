//! The pub/sub benchmark in one process: one publisher node and N subscriber nodes on one runtime, every copy
//! over a real loopback TCP link (`pubsub_processes` puts each node in its own process instead). Prints the
//! figures the messaging issue names; seconds run from the first publish to the last delivery. With a key,
//! every node is keyed and every link encrypted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{proc_status_kib, Runtime};
use crate::auth::Key;
use crate::identity::random_node_id;
use crate::messaging::Delivery;
use crate::node::Node;
use crate::queue::OverflowPolicy;
use crate::NodeConfig;

/// The topic every pub/sub benchmark publishes on.
pub const TOPIC: &str = "bench";

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct PubSubFigures {
    /// Always `"pubsub"`.
    pub workload: &'static str,
    /// True when the publisher and each subscriber ran in processes of their own.
    pub processes: bool,
    /// Subscriber nodes.
    pub subscribers: usize,
    /// Messages published.
    pub messages: u64,
    /// Payload bytes per message.
    pub size: usize,
    /// Overflow policy of the publisher's links.
    pub policy: String,
    /// True when every node had the key (links encrypted).
    pub keyed: bool,
    /// The tokio runtime every process ran on (`multi-thread`, `current-thread`).
    pub runtime: &'static str,
    /// Messages received, all subscribers together.
    pub delivered: u64,
    /// Copies not delivered (dropped by a queue, or missed by a lagging reader).
    pub dropped: u64,
    /// From the first publish to the last delivery.
    pub seconds: f64,
    /// `delivered / seconds`.
    pub msgs_per_s_delivered: f64,
    /// Payload megabytes delivered per second.
    pub mb_per_s: f64,
    /// Peak resident memory (VmHWM, KiB) of each process: the publisher's first (the only one in-process).
    pub peak_rss_kib: Vec<u64>,
}

/// One subscriber's counts, on a cache line of its own (so counting costs no cross-core traffic).
#[derive(Debug, Default)]
#[repr(align(64))]
struct Progress {
    /// Messages received, the warm-up message included.
    delivered: AtomicU64,
    /// Messages the publisher reported dropped.
    dropped: AtomicU64,
}

/// Runs one publisher to `subscribers` nodes, `messages` messages of `size` bytes, on group port `port`, every
/// node with `key` when given, on this process's runtime (`runtime` says which, for the figures).
pub async fn run(
    subscribers: usize,
    messages: u64,
    size: usize,
    policy: OverflowPolicy,
    port: u16,
    key: Option<Key>,
    runtime: Runtime,
) -> anyhow::Result<PubSubFigures> {
    let keyed = key.is_some();
    let config = |name: String| {
        let mut config = NodeConfig::loopback(name, port);
        config.node_id = Some(random_node_id());
        config.claim_wait = Duration::ZERO;
        config.overflow = policy;
        config.key = key.clone();
        config
    };
    let mut subs = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let mut c = config(format!("sub-{i}"));
        c.topics = vec![TOPIC.into()];
        subs.push(Node::start(c).await?);
    }
    let publisher = Node::start(config("publisher".into())).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher
        .peers()
        .iter()
        .filter(|p| p.topics.iter().any(|t| t == TOPIC))
        .count()
        < subscribers
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the publisher did not see every subscriber"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Open every link before timing: one message each, waited for.
    let progress: Vec<Arc<Progress>> = (0..subscribers).map(|_| Arc::default()).collect();
    let delivered = || {
        progress
            .iter()
            .map(|p| p.delivered.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let dropped = || {
        progress
            .iter()
            .map(|p| p.dropped.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let mut counting = Vec::new();
    for (sub, progress) in subs.iter().zip(&progress) {
        // Lossless per-subscriber streams, gap notices (drop-oldest) in place.
        let mut stream = sub.subscription(TOPIC)?;
        let (progress, last) = (progress.clone(), last.clone());
        counting.push(tokio::spawn(async move {
            // The warm-up message, then the timed ones.
            let mut mine = 0u64;
            while let Some(delivery) = stream.next().await {
                match delivery {
                    Delivery::Message(_) => {
                        mine += 1;
                        progress.delivered.store(mine, Ordering::Relaxed);
                        if mine == messages + 1 {
                            *last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                            break;
                        }
                    }
                    Delivery::Missed { count, .. } => {
                        progress.dropped.fetch_add(count, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    publisher.publish(TOPIC, vec![0u8; size]).await?;
    let warm = Instant::now() + Duration::from_secs(10);
    while delivered() < subscribers as u64 {
        if Instant::now() > warm {
            let received: Vec<u64> = subs
                .iter()
                .map(|s| s.stats().counters["messaging.received"])
                .collect();
            anyhow::bail!(
                "the first message did not reach every subscriber: received per subscriber {received:?}; publisher {:?}",
                publisher.stats().counters.iter().filter(|(k, _)| k.starts_with("messaging") || k.starts_with("links")).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Each subscriber's count now includes the warm-up message.
    let warmed = subscribers as u64;

    // The publisher runs as a task on the runtime, like the subscribers' readers (not on the main thread).
    let publisher = Arc::new(publisher);
    let publishing = publisher.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        let payload = vec![0u8; size];
        for _ in 0..messages {
            publishing.publish(TOPIC, payload.as_slice()).await?;
        }
        anyhow::Ok(())
    })
    .await??;
    let publisher = Arc::into_inner(publisher).expect("the publishing task is done");
    let expected = messages * subscribers as u64;
    let patience = Instant::now() + Duration::from_secs(60);
    loop {
        let done = delivered() - warmed + dropped();
        if done >= expected || Instant::now() > patience || counting.iter().all(|t| t.is_finished())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let end = if delivered() - warmed >= expected {
        *last.lock().unwrap_or_else(|p| p.into_inner())
    } else {
        Instant::now()
    };
    let seconds = end.saturating_duration_since(start).as_secs_f64().max(1e-9);
    let delivered = delivered() - warmed;
    for task in counting {
        task.abort();
    }
    publisher.shutdown().await;
    for sub in subs {
        sub.shutdown().await;
    }
    let run = Run {
        processes: false,
        subscribers,
        messages,
        size,
        policy,
        keyed,
        runtime,
    };
    Ok(run.figures(
        delivered,
        seconds,
        vec![proc_status_kib("VmHWM").unwrap_or(0)],
    ))
}

/// What a pub/sub run was asked to do, for its figures.
pub(crate) struct Run {
    /// Each node in a process of its own.
    pub processes: bool,
    /// Subscriber nodes.
    pub subscribers: usize,
    /// Messages published (timed).
    pub messages: u64,
    /// Payload bytes.
    pub size: usize,
    /// The publisher's overflow policy.
    pub policy: OverflowPolicy,
    /// Every node keyed.
    pub keyed: bool,
    /// The runtime every process ran on.
    pub runtime: Runtime,
}

impl Run {
    /// The figures of this run, which delivered `delivered` copies in `seconds`.
    pub fn figures(&self, delivered: u64, seconds: f64, peak_rss_kib: Vec<u64>) -> PubSubFigures {
        let expected = self.messages * self.subscribers as u64;
        let seconds = seconds.max(1e-9);
        PubSubFigures {
            workload: "pubsub",
            processes: self.processes,
            subscribers: self.subscribers,
            messages: self.messages,
            size: self.size,
            policy: format!("{:?}", self.policy),
            keyed: self.keyed,
            runtime: self.runtime.name(),
            delivered,
            dropped: expected.saturating_sub(delivered),
            seconds,
            msgs_per_s_delivered: delivered as f64 / seconds,
            mb_per_s: delivered as f64 * self.size as f64 / seconds / 1e6,
            peak_rss_kib,
        }
    }
}
