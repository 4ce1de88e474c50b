//! `herald publish TOPIC MESSAGE`: joins as a CLI one-shot, gives live nodes a moment to greet it (so it knows
//! who subscribes), publishes once, waits for the links to flush, and leaves.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{message_bytes, one_shot_config, FileConfig, GlobalArgs};
use crate::node::Node;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The topic (no wildcard).
    topic: String,
    /// The message: UTF-8 text, or base64 with --base64.
    message: String,
    /// The message argument is base64 (for bytes that are not text).
    #[arg(long)]
    base64: bool,
    /// Seconds to learn the subscribers before publishing (live nodes greet a newcomer at once).
    #[arg(long, default_value_t = 0.5, value_name = "SECS")]
    wait: f64,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: PublishArgs,
) -> anyhow::Result<ExitCode> {
    let payload = message_bytes(&args.message, args.base64)?;
    crate::topics::validate_topic(&args.topic)
        .with_context(|| format!("topic {:?}", args.topic))?;
    let node = Node::start(one_shot_config(global, file)?)
        .await
        .context("cannot join the group")?;
    tokio::time::sleep(Duration::from_secs_f64(args.wait.max(0.0))).await;
    let reached = node.publish(&args.topic, payload).await?;
    // Shutting down flushes every link's queue before it closes.
    node.shutdown().await;
    eprintln!("published to {reached} subscriber(s)");
    Ok(ExitCode::SUCCESS)
}
