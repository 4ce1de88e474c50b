//! `herald send (--to NAME)... | --all MESSAGE`: joins as a CLI one-shot, waits until the named peers are
//! known (or `--wait` passes), sends one direct message to each, flushes the links and leaves. Prints what
//! became of each name on stderr; exits 1 if any name was not reached.

use std::process::ExitCode;

use clap::Args;

use super::{join_for_targets, message_bytes, FileConfig, GlobalArgs};
use crate::messaging::SendOutcome;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// A peer to send to (repeatable).
    #[arg(long = "to", value_name = "NAME", required_unless_present = "all")]
    to: Vec<String>,
    /// Send to every live peer.
    #[arg(long, conflicts_with = "to")]
    all: bool,
    /// The message: UTF-8 text, or base64 with --base64.
    message: String,
    /// The message argument is base64 (for bytes that are not text).
    #[arg(long)]
    base64: bool,
    /// Seconds to wait for the peers to be discovered (with --all: to learn who is there).
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    wait: f64,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: SendArgs,
) -> anyhow::Result<ExitCode> {
    let payload = message_bytes(&args.message, args.base64)?;
    let (node, targets) = join_for_targets(global, file, args.to, args.all, args.wait).await?;
    let outcomes = node.send(targets, payload).await;
    // Shutting down flushes every link's queue before it closes.
    node.shutdown().await;
    let mut all_queued = true;
    for (name, outcome) in &outcomes {
        match outcome {
            SendOutcome::Queued => eprintln!("{name}: sent"),
            SendOutcome::UnknownPeer => {
                all_queued = false;
                eprintln!("{name}: no such peer");
            }
            SendOutcome::NotQueued(reason) => {
                all_queued = false;
                eprintln!("{name}: not sent: {reason}");
            }
        }
    }
    if outcomes.is_empty() {
        eprintln!("no peers to send to");
    }
    Ok(if all_queued {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
