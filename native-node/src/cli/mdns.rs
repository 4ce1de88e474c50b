//! `herald node`'s DNS-SD flags: `--mdns` (announce this node and its services) and `--mdns-browse TYPE`
//! (proxy the LAN's services of that type), both kept to the node's `--interface`.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::FileConfig;
use crate::config::InterfaceSpec;
use crate::discovery::mdns::records::browse_type;
use crate::discovery::mdns::{Mdns, MdnsConfig};
use crate::node::Node;

/// DNS-SD flags; each also a key of the config file (`mdns = true`, `mdns_browse = ["_ipp._tcp"]`).
#[derive(Debug, Args)]
pub struct MdnsArgs {
    /// Announce this node (`_herald._tcp`, name and link port in TXT) and each service whose name is a valid
    /// service type (`_NAME._tcp`) by DNS-SD, on the node's --interface only [default: off].
    #[arg(long)]
    mdns: bool,
    /// Browse DNS-SD for TYPE (`_ipp._tcp`, `_http._tcp`; repeatable), on the node's --interface only: each
    /// service found is a peer of kind `mdns` via this node until it is withdrawn or expires.
    #[arg(long = "mdns-browse", value_name = "TYPE")]
    mdns_browse: Vec<String>,
}

impl MdnsArgs {
    /// What was asked (flags first, then the config file), on `interface`; the types are checked here.
    pub fn config(self, file: &FileConfig, interface: InterfaceSpec) -> anyhow::Result<MdnsConfig> {
        let mut browse = self.mdns_browse;
        if browse.is_empty() {
            browse = file.mdns_browse.clone();
        }
        for ty in &browse {
            browse_type(ty).with_context(|| format!("--mdns-browse {ty:?}"))?;
        }
        Ok(MdnsConfig {
            interface,
            announce: self.mdns || file.mdns.unwrap_or(false),
            browse,
        })
    }
}

/// Starts DNS-SD beside `node` unless `config` asks for nothing.
pub async fn start(node: &Arc<Node>, config: MdnsConfig) -> anyhow::Result<Option<Mdns>> {
    if config.is_off() {
        return Ok(None);
    }
    let mdns = Mdns::start(node, config)
        .await
        .context("cannot start DNS-SD (--mdns, --mdns-browse)")?;
    Ok(Some(mdns))
}
