//! `herald subscribe PATTERN`: joins as a CLI one-shot subscribed to a pattern and prints every message (text,
//! or one bridge event JSON per line with `--json`) until Ctrl-C, SIGTERM or `--count` messages. Messages are
//! taken in batches (`Subscription::recv_many`) and each batch printed with one write.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{one_shot_config, stop_signal, FileConfig, GlobalArgs};
use crate::events::NodeEvent;
use crate::messaging::{Delivery, Message};
use crate::node::Node;

/// Messages taken from the subscription and printed with one write at most.
const PRINT_BATCH: usize = 1024;

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
    let mut batch = Vec::with_capacity(PRINT_BATCH);
    let mut text = String::new();
    loop {
        let wanted = args
            .count
            .map_or(PRINT_BATCH as u64, |count| count - received)
            .min(PRINT_BATCH as u64) as usize;
        if wanted == 0 {
            break;
        }
        tokio::select! {
            _ = &mut stop => break,
            taken = messages.recv_many(&mut batch, wanted) => if taken == 0 {
                break;
            },
            event = events.next() => match event {
                // Messages and gap notices come in order from the subscription stream above.
                Some(NodeEvent::Lagged { missed }) => {
                    eprintln!("warning: missed {missed} events (output too slow)");
                    continue;
                }
                Some(_) => continue,
                None => break,
            },
        }
        text.clear();
        for delivery in batch.drain(..) {
            match delivery {
                Delivery::Message(message) => {
                    received += 1;
                    print_message(&mut text, message, args.json);
                }
                Delivery::Missed { from, topic, count } => {
                    eprintln!("warning: {from} dropped {count} messages on {topic}")
                }
            }
        }
        // One write per batch: what arrived together is printed together, and a lone message at once.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
    }
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Appends one message's line to `text`: the bridge's `message` event as JSON, or `topic sender: text`.
fn print_message(text: &mut String, message: Message, json: bool) {
    if json {
        let event = NodeEvent::Message(message.into());
        text.push_str(&crate::bridge_adapter::event_form::node_event(&event).to_json());
    } else {
        let topic = message.topic.as_deref().unwrap_or("(direct)");
        let _ = match message.text() {
            Some(payload) => write!(text, "{topic} {}: {payload}", message.from_name),
            None => write!(
                text,
                "{topic} {}: ({} bytes)",
                message.from_name,
                message.payload.len()
            ),
        };
    }
    text.push('\n');
}
