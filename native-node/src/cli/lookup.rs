//! `herald lookup SERVICE`: asks the group who provides a service and prints one `IP:PORT` per provider;
//! exits 1 when there is none. It is not a node: a plain query answered by unicast, like the old hub. With
//! `--seed` (where multicast is blocked, a query to the group reaches nobody) it joins briefly as a one-shot
//! through the seeds instead, and prints the providers among the peers it learned of.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{one_shot_config, FileConfig, GlobalArgs};

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// The service name.
    service: String,
    /// Seconds to collect replies.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    wait: f64,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: LookupArgs,
) -> anyhow::Result<ExitCode> {
    let config = one_shot_config(global, file)?;
    let wait = Duration::from_secs_f64(args.wait.max(0.0));
    // Each provider's own address, with its site when it is at another one (`198.51.100.12:8080 site=a`).
    let addrs: Vec<String> = if config.seeds.is_empty() {
        let providers = crate::services::lookup(&config, &args.service, wait).await?;
        providers
            .into_iter()
            .map(|p| match p.site {
                Some(site) => format!("{} site={site}", p.addr),
                None => p.addr.to_string(),
            })
            .collect()
    } else {
        let node = crate::node::Node::start(config)
            .await
            .context("cannot join through the seeds")?;
        tokio::time::sleep(wait).await;
        let found = node.lookup(&args.service);
        node.shutdown().await;
        found.iter().map(ToString::to_string).collect()
    };
    for addr in &addrs {
        println!("{addr}");
    }
    if addrs.is_empty() {
        eprintln!("no provider of {:?}", args.service);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
