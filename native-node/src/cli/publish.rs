//! `herald publish TOPIC MESSAGE`: joins as a CLI one-shot, gives live nodes a moment to greet it (so it knows
//! who subscribes; `--subscribers N` waits for N of them), publishes once, waits for the links to flush, and
//! leaves. With `-` as the message it publishes each line of its stdin as one message until end of input.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{message_bytes, one_shot_config, FileConfig, GlobalArgs};
use crate::node::Node;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The topic (no wildcard).
    topic: String,
    /// The message: UTF-8 text, or base64 with --base64; `-` publishes each line of stdin.
    message: String,
    /// The message (or each line) is base64 (for bytes that are not text).
    #[arg(long)]
    base64: bool,
    /// Seconds to learn the subscribers before publishing (live nodes greet a newcomer at once).
    #[arg(long, default_value_t = 0.5, value_name = "SECS")]
    wait: f64,
    /// Publish as soon as this many subscribers are known (still at most --wait seconds).
    #[arg(long, value_name = "N")]
    subscribers: Option<usize>,
    /// What a full link queue does: drop-oldest (default; the subscriber is told how many it missed),
    /// disconnect, or block (lossless: publishing waits for a slow subscriber).
    #[arg(long, value_name = "POLICY")]
    overflow: Option<crate::queue::OverflowPolicy>,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: PublishArgs,
) -> anyhow::Result<ExitCode> {
    crate::topics::validate_topic(&args.topic)
        .with_context(|| format!("topic {:?}", args.topic))?;
    let single = match args.message.as_str() {
        "-" => None,
        message => Some(message_bytes(message, args.base64)?),
    };
    let mut config = one_shot_config(global, file)?;
    if let Some(policy) = args.overflow.or(file.overflow) {
        config.overflow = policy;
    }
    let node = Node::start(config).await.context("cannot join the group")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.wait.max(0.0));
    while tokio::time::Instant::now() < deadline {
        if args
            .subscribers
            .is_some_and(|n| node.subscribers(&args.topic).len() >= n)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut messages, mut reached) = (0u64, 0usize);
    match single {
        Some(payload) => {
            reached = node.publish(&args.topic, payload).await?;
            messages = 1;
        }
        None => {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Some(line) = lines.next_line().await.context("reading stdin")? {
                let payload = message_bytes(&line, args.base64)?;
                reached = node.publish(&args.topic, payload).await?;
                messages += 1;
            }
        }
    }
    let dropped = node.stats().counters["messaging.dropped_for_slow"];
    // Shutting down flushes every link's queue before it closes.
    node.shutdown().await;
    if dropped > 0 {
        eprintln!(
            "warning: {dropped} copies dropped for slow subscribers (they were told how many)"
        );
    }
    if messages == 1 {
        eprintln!("published to {reached} subscriber(s)");
    } else {
        eprintln!("published {messages} messages; the last to {reached} subscriber(s)");
    }
    Ok(ExitCode::SUCCESS)
}
