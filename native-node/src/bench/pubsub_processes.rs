//! The pub/sub benchmark with every node in its own OS process, the way ZeroMQ's and NATS's subscribers are
//! measured: this process is the publisher; each subscriber is this same binary (`herald-bench
//! pubsub-subscriber`), a real node found by discovery on loopback that reads through the public API an
//! application uses ([`Node::subscription`]). Seconds run from the first timed publish to the last delivery
//! in any subscriber (one machine, one clock); every process's peak memory is reported.
//!
//! A subscriber says `ready` once subscribed, `warm` when the warm-up message arrived, and finally one JSON
//! line ([`SubscriberFigures`]) when it has every timed message (or a gap notice for what it missed).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use super::proc_status_kib;
use super::pubsub::{PubSubFigures, Run, TOPIC};
use super::Runtime;
use crate::auth::Key;
use crate::identity::random_node_id;
use crate::messaging::Delivery;
use crate::node::Node;
use crate::queue::OverflowPolicy;
use crate::NodeConfig;

/// How long a subscriber process may take to start, subscribe, or get the warm-up message.
const START_PATIENCE: Duration = Duration::from_secs(20);
/// How long the timed messages may take to arrive once published.
const RUN_PATIENCE: Duration = Duration::from_secs(300);

/// What one subscriber process reports at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriberFigures {
    /// Timed messages received.
    pub delivered: u64,
    /// Timed messages the publisher reported dropped for it.
    pub dropped: u64,
    /// When the last one arrived (unix ns).
    pub last_ns: u128,
    /// Its peak resident memory (VmHWM, KiB).
    pub peak_rss_kib: u64,
}

/// Now, in nanoseconds since the Unix epoch: one clock for every process of a benchmark on this machine.
pub(crate) fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn config(name: &str, port: u16, policy: OverflowPolicy, key: Option<Key>) -> NodeConfig {
    let mut config = NodeConfig::loopback(name, port);
    config.node_id = Some(random_node_id());
    config.claim_wait = Duration::ZERO;
    config.overflow = policy;
    config.key = key;
    config
}

/// The subscriber process's side (`herald-bench pubsub-subscriber`): subscribes, says `ready`, counts the
/// warm-up message (`warm`) and `messages` timed ones, then says its figures as one JSON line. `say` prints a
/// line on the process's standard output, where the publisher reads it.
pub async fn subscriber(
    name: &str,
    port: u16,
    messages: u64,
    key_file: Option<&Path>,
    mut say: impl FnMut(&str),
) -> anyhow::Result<()> {
    let key = key_file.map(Key::from_file).transpose()?;
    let node = Node::start(config(name, port, OverflowPolicy::Block, key)).await?;
    let mut stream = node.subscription(TOPIC)?;
    say("ready");
    let (mut delivered, mut dropped, mut warmed) = (0u64, 0u64, false);
    let mut last_ns = 0;
    while delivered + dropped < messages {
        match stream.next().await {
            Some(Delivery::Message(_)) if !warmed => {
                warmed = true;
                say("warm");
            }
            Some(Delivery::Message(_)) => {
                delivered += 1;
                if delivered + dropped == messages {
                    last_ns = unix_ns();
                }
            }
            Some(Delivery::Missed { count, .. }) => dropped += count,
            None => break,
        }
    }
    let figures = SubscriberFigures {
        delivered,
        dropped,
        last_ns,
        peak_rss_kib: proc_status_kib("VmHWM").unwrap_or(0),
    };
    say(&serde_json::to_string(&figures)?);
    node.shutdown().await;
    Ok(())
}

/// A running subscriber process and its output.
pub(crate) struct SubscriberProcess {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl SubscriberProcess {
    /// Starts `command` (killed when this is dropped), reading its standard output.
    pub(crate) fn spawn(
        command: &mut tokio::process::Command,
    ) -> anyhow::Result<SubscriberProcess> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        Ok(SubscriberProcess {
            _child: child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Its next line, within `patience`.
    pub(crate) async fn next_line(&mut self, patience: Duration) -> anyhow::Result<String> {
        match tokio::time::timeout(patience, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => anyhow::bail!("a subscriber process ended early"),
            Ok(Err(err)) => Err(err.into()),
            Err(_) => anyhow::bail!("a subscriber process said nothing for {patience:?}"),
        }
    }

    /// Waits for the line `word`.
    pub(crate) async fn expect(&mut self, word: &str) -> anyhow::Result<()> {
        let line = self.next_line(START_PATIENCE).await?;
        anyhow::ensure!(
            line.trim() == word,
            "a subscriber said {line:?}, not {word:?}"
        );
        Ok(())
    }
}

/// Runs one publisher (this process) to `subscribers` subscriber processes, `messages` timed messages of
/// `size` bytes, on group port `port`, every node keyed with `key_file` when given; the subscriber processes
/// run on `runtime`, the kind this process runs on.
pub async fn run(
    subscribers: usize,
    messages: u64,
    size: usize,
    policy: OverflowPolicy,
    port: u16,
    key_file: Option<&Path>,
    runtime: Runtime,
) -> anyhow::Result<PubSubFigures> {
    let key = key_file.map(Key::from_file).transpose()?;
    let keyed = key.is_some();
    let exe = std::env::current_exe()?;
    let mut subs = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let mut command = tokio::process::Command::new(&exe);
        command.args(["--runtime", runtime.name()]);
        command.args(["pubsub-subscriber", "--name", &format!("sub-{i}")]);
        command.args([
            "--port",
            &port.to_string(),
            "--messages",
            &messages.to_string(),
        ]);
        if let Some(path) = key_file {
            command.arg("--key-file").arg(path);
        }
        subs.push(SubscriberProcess::spawn(&mut command)?);
    }
    for sub in &mut subs {
        sub.expect("ready").await?;
    }
    let publisher = Node::start(config("publisher", port, policy, key)).await?;
    let deadline = Instant::now() + START_PATIENCE;
    while publisher.subscribers(TOPIC).len() < subscribers {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the publisher did not see every subscriber"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Open every link before timing: one message each, waited for.
    let payload = vec![0u8; size];
    publisher.publish(TOPIC, payload.as_slice()).await?;
    for sub in &mut subs {
        sub.expect("warm").await?;
    }
    let start_ns = unix_ns();
    for _ in 0..messages {
        publisher.publish(TOPIC, payload.as_slice()).await?;
    }
    let mut reports = Vec::with_capacity(subscribers);
    for sub in &mut subs {
        let line = sub.next_line(RUN_PATIENCE).await?;
        reports.push(serde_json::from_str::<SubscriberFigures>(&line)?);
    }
    publisher.shutdown().await;
    let delivered: u64 = reports.iter().map(|r| r.delivered).sum();
    let end_ns = reports.iter().map(|r| r.last_ns).max().unwrap_or(start_ns);
    let seconds = end_ns.saturating_sub(start_ns) as f64 / 1e9;
    let mut peak_rss_kib = vec![proc_status_kib("VmHWM").unwrap_or(0)];
    peak_rss_kib.extend(reports.iter().map(|r| r.peak_rss_kib));
    let run = Run {
        processes: true,
        subscribers,
        messages,
        size,
        policy,
        keyed,
        runtime,
    };
    Ok(run.figures(delivered, seconds, peak_rss_kib))
}
