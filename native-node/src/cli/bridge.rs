//! `herald node --bridge`: the bridge's flags and `[bridge]` config keys, and starting a bridge for a node.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use herald_bridge::{Bridge, BridgeConfig};
use serde::Deserialize;

use crate::bridge_adapter::NodeBridge;
use crate::iplog::IpLog;
use crate::node::Node;

/// The `[bridge]` table of the config file (each key is the flag of the same name).
///
/// ```toml
/// [bridge]
/// listen = "127.0.0.1:8080"
/// token_file = "/etc/herald/bridge-token"
/// allow_origins = ["https://herald.example.org"]
/// dashboard_dir = "/usr/share/herald/dist"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeKeys {
    /// `--bridge ADDR:PORT`; the presence of the key turns the bridge on.
    pub listen: Option<SocketAddr>,
    /// `--bridge-token-file`
    pub token_file: Option<PathBuf>,
    /// `--allow-origin`, as a list.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// `--dashboard-dir`
    pub dashboard_dir: Option<PathBuf>,
}

/// The bridge flags of `herald node`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Serve the dashboard and the WebSocket bridge on ADDR:PORT [default: 127.0.0.1:8080]. Any address but
    /// loopback requires --bridge-token-file.
    #[arg(long, value_name = "ADDR:PORT", num_args = 0..=1)]
    bridge: Option<Option<SocketAddr>>,
    /// File holding the bridge's access token (clients add `?token=...` to the URL).
    #[arg(long, value_name = "FILE")]
    bridge_token_file: Option<PathBuf>,
    /// Allow pages from this origin (`https://host:port`) beside the bridge's own (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Serve the dashboard from this directory (trunk's dist/, for dashboard development) instead of the
    /// copy embedded in the binary.
    #[arg(long, value_name = "DIR")]
    dashboard_dir: Option<PathBuf>,
}

/// A running bridge and the node's side of it.
pub struct RunningBridge {
    bridge: Bridge,
    forwarding: NodeBridge,
}

impl RunningBridge {
    /// Stops forwarding, closes the clients and the server.
    pub async fn shutdown(self) {
        self.forwarding.shutdown().await;
        self.bridge.shutdown().await;
    }
}

/// Starts the bridge if the flags or the config ask for it.
pub async fn start(
    args: BridgeArgs,
    keys: &BridgeKeys,
    node: &Arc<Node>,
    iplog: Option<IpLog>,
    own_patterns: BTreeSet<String>,
) -> anyhow::Result<Option<RunningBridge>> {
    let listen = match (args.bridge, keys.listen) {
        (Some(Some(addr)), _) => addr,
        (Some(None), Some(addr)) | (None, Some(addr)) => addr,
        (Some(None), None) => herald_bridge::config::DEFAULT_LISTEN,
        (None, None) => return Ok(None),
    };
    let mut config = BridgeConfig::new(listen);
    if let Some(path) = args.bridge_token_file.or_else(|| keys.token_file.clone()) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the bridge token file {}", path.display()))?;
        let token = text.trim();
        if token.len() < 16 {
            bail!(
                "the bridge token in {} is shorter than 16 characters (make one with `herald keygen FILE`)",
                path.display()
            );
        }
        config.token = Some(token.to_owned());
    }
    config.allowed_origins = args.allow_origins;
    config
        .allowed_origins
        .extend(keys.allow_origins.iter().cloned());
    if let Some(dir) = args.dashboard_dir.or_else(|| keys.dashboard_dir.clone()) {
        if !dir.join("index.html").is_file() {
            bail!("--dashboard-dir {}: no index.html there", dir.display());
        }
        config.dashboard_dir = Some(dir);
    }
    let source = match (&config.dashboard_dir, config.assets.is_empty()) {
        (Some(dir), _) => Some(format!("from {}", dir.display())),
        (None, false) => Some("embedded".to_owned()),
        (None, true) => None,
    };
    let (bridge, requests) = Bridge::start(config).await?;
    let forwarding = NodeBridge::start(node.clone(), iplog, bridge.clone(), requests, own_patterns);
    match source {
        Some(source) => eprintln!(
            "herald: dashboard on http://{} ({source})",
            bridge.local_addr()
        ),
        None => eprintln!(
            "herald: bridge on http://{}, but this herald was built without the dashboard: \
             `cargo xtask dist` builds one with it inside (or give --dashboard-dir)",
            bridge.local_addr()
        ),
    }
    Ok(Some(RunningBridge { bridge, forwarding }))
}
