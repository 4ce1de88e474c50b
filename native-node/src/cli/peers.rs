//! `herald peers`: joins briefly as a CLI one-shot, waits for the peers to greet it, prints them, and leaves.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{one_shot_config, FileConfig, GlobalArgs};
use crate::node::Node;

#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Seconds to listen before printing (live nodes greet a newcomer at once; one heartbeat covers a lost
    /// greeting).
    #[arg(long, default_value_t = 1.5, value_name = "SECS")]
    wait: f64,
    /// Print one JSON object per peer and line.
    #[arg(long)]
    json: bool,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: PeersArgs,
) -> anyhow::Result<ExitCode> {
    let node = Node::start(one_shot_config(global, file)?)
        .await
        .context("cannot join the group")?;
    tokio::time::sleep(Duration::from_secs_f64(args.wait.max(0.0))).await;
    let peers = node.peers();
    node.shutdown().await;
    for peer in &peers {
        if args.json {
            println!("{}", serde_json::to_string(peer)?);
        } else {
            let line = format!(
                "{:<20} {:<15} {:<14} {} {}",
                peer.address(),
                peer.addr,
                peer.kind,
                super::services_text(peer),
                super::txt_brief(peer)
            );
            println!("{}", line.trim_end());
        }
    }
    if peers.is_empty() && !args.json {
        eprintln!("no peers");
    }
    Ok(ExitCode::SUCCESS)
}
