//! `herald subscribe PATTERN`: joins as a CLI one-shot subscribed to a pattern and prints every message (text,
//! or one bridge event JSON per line with `--json`) until Ctrl-C, SIGTERM or `--count` messages.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{one_shot_config, stop_signal, FileConfig, GlobalArgs};
use crate::events::NodeEvent;
use crate::node::Node;

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Topic pattern: `chat`, `sensors.*`, or `*` for everything.
    pattern: String,
    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Print one JSON event per line (the bridge's `message` event).
    #[arg(long)]
    json: bool,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: SubscribeArgs,
) -> anyhow::Result<ExitCode> {
    let config = one_shot_config(global, file)?;
    crate::topics::TopicPattern::parse(&args.pattern)
        .with_context(|| format!("pattern {:?}", args.pattern))?;
    let node = Node::start(config).await.context("cannot join the group")?;
    let mut messages = node.subscription(&args.pattern)?;
    let mut events = node.events();
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut received = 0u64;
    while args.count.is_none_or(|count| received < count) {
        let event = tokio::select! {
            _ = &mut stop => break,
            message = messages.next() => match message {
                Some(delivery) => delivery.into(),
                None => break,
            },
            event = events.next() => match event {
                // Messages and gap notices come in order from the subscription stream above.
                Some(NodeEvent::Message(_) | NodeEvent::Missed { .. }) => continue,
                Some(event) => event,
                None => break,
            },
        };
        match &event {
            NodeEvent::Message(message) => {
                received += 1;
                if args.json {
                    println!(
                        "{}",
                        crate::bridge_adapter::event_form::node_event(&event).to_json()
                    );
                } else {
                    let text = message.payload.as_text().map_or_else(
                        || format!("({} bytes)", message.payload.len()),
                        str::to_owned,
                    );
                    println!(
                        "{} {}: {text}",
                        message.topic.as_deref().unwrap_or("(direct)"),
                        message.from_name
                    );
                }
            }
            NodeEvent::Missed { from, topic, count } => {
                eprintln!("warning: {from} dropped {count} messages on {topic}")
            }
            NodeEvent::Lagged { missed } => {
                eprintln!("warning: missed {missed} events (output too slow)")
            }
            _ => {}
        }
    }
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
