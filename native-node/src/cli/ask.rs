//! `herald ask (--to NAME)... | --all QUESTION`: joins as a CLI one-shot, waits until the named peers are
//! known (or `--wait` passes), asks, and prints one JSON object: name → answer (a string, or `{"base64": ..}`
//! for bytes that are not text) or `null` for no answer. `--json` prints each name's full outcome instead
//! (answered with its latency, or the reason for no answer). Exits 1 unless every name answered.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use herald_core::AskOutcome;
use serde_json::{Map, Value};

use super::{join_for_targets, message_bytes, FileConfig, GlobalArgs};

#[derive(Debug, Args)]
pub struct AskArgs {
    /// A peer to ask (repeatable).
    #[arg(long = "to", value_name = "NAME", required_unless_present = "all")]
    to: Vec<String>,
    /// Ask every live peer.
    #[arg(long, conflicts_with = "to")]
    all: bool,
    /// The question: UTF-8 text, or base64 with --base64.
    question: String,
    /// The question argument is base64.
    #[arg(long)]
    base64: bool,
    /// Seconds to wait for answers.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    timeout: f64,
    /// Seconds to wait for the peers to be discovered (with --all: to learn who is there).
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    wait: f64,
    /// Print each name's full outcome.
    #[arg(long)]
    json: bool,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: AskArgs,
) -> anyhow::Result<ExitCode> {
    let question = message_bytes(&args.question, args.base64)?;
    anyhow::ensure!(
        args.timeout > 0.0 && args.timeout <= 3600.0,
        "--timeout must be between 0 and 3600 seconds"
    );
    let (node, targets) = join_for_targets(global, file, args.to, args.all, args.wait).await?;
    let outcomes = node
        .ask(targets, question, Duration::from_secs_f64(args.timeout))
        .await?;
    node.shutdown().await;
    let all_answered = outcomes
        .values()
        .all(|o| matches!(o, AskOutcome::Answered { .. }));
    let printed: Map<String, Value> = outcomes
        .into_iter()
        .map(|(name, outcome)| {
            let value = if args.json {
                serde_json::to_value(&outcome).expect("outcomes serialize")
            } else {
                match outcome.payload() {
                    Some(payload) => match payload.as_text() {
                        Some(text) => Value::String(text.to_owned()),
                        None => serde_json::to_value(payload).expect("payloads serialize"),
                    },
                    None => Value::Null,
                }
            };
            (name, value)
        })
        .collect();
    println!("{}", Value::Object(printed));
    Ok(if all_answered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
