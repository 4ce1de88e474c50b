//! The ask/answer latency benchmark: a node in this process asks an answerer node in a separate process (this
//! same binary, `herald-bench answerer`) one question at a time over a loopback link, and reports the round
//! trips' percentiles. Every round trip is a full `Node::ask`: question frame out, the answer handler run in
//! its own task, answer frame back, outcome settled. With a key file, both nodes are keyed (links encrypted).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::Key;
use crate::identity::random_node_id;
use crate::node::Node;
use crate::{AskOutcome, IncomingQuestion, NodeConfig};

/// Name of the answering node.
pub const ANSWERER: &str = "bench-answerer";

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    /// Always `"reqrep"`.
    pub workload: &'static str,
    /// Round trips measured.
    pub messages: u64,
    /// Question and answer bytes.
    pub size: usize,
    /// True when both nodes had the key (the link encrypted).
    pub keyed: bool,
    /// Median round trip (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Slowest (µs).
    pub max_us: f64,
    /// Whole measured run (s).
    pub seconds: f64,
}

fn config(name: &str, port: u16, key: Option<Key>) -> NodeConfig {
    let mut config = NodeConfig::loopback(name, port);
    config.node_id = Some(random_node_id());
    config.claim_wait = Duration::ZERO;
    config.key = key;
    config
}

/// The answerer side: a node that echoes every question. `herald-bench answerer` runs it, says `ready` on
/// stdout and keeps it until its stdin closes (the asking process went away).
pub async fn start_answerer(port: u16, key: Option<Key>) -> anyhow::Result<Node> {
    let node = Node::start(config(ANSWERER, port, key)).await?;
    node.answer_with(|q: IncomingQuestion| async move { Ok(q.payload) });
    Ok(node)
}

/// Asks the answerer process `messages` questions of `size` bytes, one at a time, after a warm-up; both
/// nodes keyed with `key_file` when given.
pub async fn run(
    messages: u64,
    size: usize,
    port: u16,
    key_file: Option<&Path>,
) -> anyhow::Result<LatencyFigures> {
    let key = key_file.map(Key::from_file).transpose()?;
    let exe = std::env::current_exe()?;
    let mut answerer = tokio::process::Command::new(exe);
    answerer.args(["answerer", "--port", &port.to_string()]);
    if let Some(path) = key_file {
        answerer.arg("--key-file").arg(path);
    }
    let mut child = answerer
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut ready = tokio::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut ready, &mut line).await?;
    anyhow::ensure!(line.trim() == "ready", "the answerer did not start");
    let keyed = key.is_some();
    let node = Node::start(config("bench-asker", port, key)).await?;
    let seen = Instant::now() + Duration::from_secs(10);
    while node.peer(ANSWERER).is_none() {
        anyhow::ensure!(Instant::now() < seen, "the answerer was not discovered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let question = vec![b'q'; size];
    let timeout = Duration::from_secs(5);
    for _ in 0..1000.min(messages) {
        node.ask(ANSWERER, question.as_slice(), timeout).await?;
    }
    let mut rtts = Vec::with_capacity(messages as usize);
    let start = Instant::now();
    for _ in 0..messages {
        let asked = Instant::now();
        let outcomes = node.ask(ANSWERER, question.as_slice(), timeout).await?;
        rtts.push(asked.elapsed());
        anyhow::ensure!(
            matches!(outcomes.get(ANSWERER), Some(AskOutcome::Answered { .. })),
            "no answer: {outcomes:?}"
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    node.shutdown().await;
    drop(child.stdin.take());
    let _ = child.wait().await;
    rtts.sort();
    let at = |q: f64| {
        let i = ((rtts.len() as f64 - 1.0) * q).round() as usize;
        rtts[i].as_secs_f64() * 1e6
    };
    Ok(LatencyFigures {
        workload: "reqrep",
        messages,
        size,
        keyed,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
        seconds,
    })
}
