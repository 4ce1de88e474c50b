//! `herald node`'s legacy flags and the `[legacy]` config table: which gateways to the old tools the node
//! runs (see [`crate::legacy`]).

use std::net::SocketAddrV4;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::legacy::hein_receiver::HeinConnectConfig;
use crate::legacy::hein_transmitter::HeinServeConfig;
use crate::legacy::hub::HubConfig;
use crate::legacy::pyconnect::PyConnectConfig;
use crate::legacy::LegacyConfig;

/// The `[legacy]` table of the config file (each key is the flag of the same name).
///
/// ```toml
/// [legacy]
/// hub = true
/// hub_registry = "/var/lib/herald/twisted-hub.json"
/// hein_serve = ["5005=sensors.*"]
/// hein_max_receivers = 5
/// hein_connect = ["192.168.1.20:5006=hein.lab"]
/// hein_name = "herald-gw"
/// pyconnect = true
/// pyconnect_group = "239.255.4.3:3235"
/// pyconnect_port = 4112
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyKeys {
    /// `--hub`
    pub hub: Option<bool>,
    /// `--hub-addr`
    pub hub_addr: Option<SocketAddrV4>,
    /// `--hub-registry`
    pub hub_registry: Option<PathBuf>,
    /// `--hein-serve`, as a list.
    #[serde(default)]
    pub hein_serve: Vec<String>,
    /// `--hein-max-receivers`
    pub hein_max_receivers: Option<usize>,
    /// `--hein-connect`, as a list.
    #[serde(default)]
    pub hein_connect: Vec<String>,
    /// `--hein-name`
    pub hein_name: Option<String>,
    /// `--pyconnect`
    pub pyconnect: Option<bool>,
    /// `--pyconnect-group`
    pub pyconnect_group: Option<SocketAddrV4>,
    /// `--pyconnect-port`
    pub pyconnect_port: Option<u16>,
}

/// Gateways to the older tools (all off unless asked for; they listen on the node's interface only).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Legacy gateways")]
pub struct LegacyArgs {
    /// Act as a Twisted hub: answer lookups for Herald's services, take registrations (UDP 224.0.0.1:8888).
    #[arg(long)]
    hub: bool,
    /// The hub's group and port.
    #[arg(long, value_name = "GROUP:PORT")]
    hub_addr: Option<SocketAddrV4>,
    /// Where hub registrations are kept across restarts [default: in the state directory].
    #[arg(long, value_name = "FILE")]
    hub_registry: Option<PathBuf>,
    /// Serve hein receivers on TCP PORT with the messages on TOPIC (wildcards allowed; repeatable).
    #[arg(long = "hein-serve", value_name = "PORT=TOPIC", value_parser = HeinServeConfig::parse)]
    hein_serve: Vec<HeinServeConfig>,
    /// Receivers served at once per --hein-serve port [default: 5, as hein].
    #[arg(long, value_name = "N")]
    hein_max_receivers: Option<usize>,
    /// Receive from the hein transmitter at HOST:PORT and publish its frames on TOPIC (repeatable).
    #[arg(long = "hein-connect", value_name = "HOST:PORT=TOPIC")]
    hein_connect: Vec<String>,
    /// The receiver name given to hein transmitters [default: the node's name, cut to 15 bytes].
    #[arg(long, value_name = "NAME")]
    hein_name: Option<String>,
    /// Be a pythonConnect device and the gateway of the pythonConnect devices on the LAN.
    #[arg(long)]
    pyconnect: bool,
    /// pythonConnect's group and UDP port.
    #[arg(long, value_name = "ADDR:PORT")]
    pyconnect_group: Option<SocketAddrV4>,
    /// pythonConnect's TCP port (listened on, and connected to).
    #[arg(long, value_name = "PORT")]
    pyconnect_port: Option<u16>,
}

/// The gateways asked for by flags, then `[legacy]` keys, for a node named `node_name` keeping its state in
/// `state_dir`.
pub fn legacy_config(
    args: LegacyArgs,
    keys: &LegacyKeys,
    node_name: &str,
    state_dir: &std::path::Path,
) -> anyhow::Result<LegacyConfig> {
    let mut config = LegacyConfig::default();
    if args.hub || keys.hub == Some(true) {
        let mut hub = HubConfig::in_state_dir(state_dir, node_name);
        if let Some(addr) = args.hub_addr.or(keys.hub_addr) {
            hub.addr = addr;
        }
        if let Some(path) = args.hub_registry.or_else(|| keys.hub_registry.clone()) {
            hub.registry = path;
        }
        config.hub = Some(hub);
    }
    config.hein_serve = args.hein_serve;
    for text in &keys.hein_serve {
        config.hein_serve.push(
            HeinServeConfig::parse(text)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("[legacy] hein_serve {text:?}"))?,
        );
    }
    if let Some(max) = args.hein_max_receivers.or(keys.hein_max_receivers) {
        anyhow::ensure!(max > 0, "--hein-max-receivers must be at least 1");
        for serve in &mut config.hein_serve {
            serve.max_receivers = max;
        }
    }
    let hein_name = args
        .hein_name
        .or_else(|| keys.hein_name.clone())
        .unwrap_or_else(|| node_name.to_owned());
    for text in args.hein_connect.iter().chain(&keys.hein_connect) {
        config.hein_connect.push(
            HeinConnectConfig::parse(text, &hein_name)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--hein-connect {text:?}"))?,
        );
    }
    if args.pyconnect || keys.pyconnect == Some(true) {
        let mut pyconnect = PyConnectConfig::new(node_name);
        if let Some(group) = args.pyconnect_group.or(keys.pyconnect_group) {
            pyconnect.group = group;
        }
        if let Some(port) = args.pyconnect_port.or(keys.pyconnect_port) {
            pyconnect.tcp_port = port;
        }
        config.pyconnect = Some(pyconnect);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_table_parses_and_typos_do_not() {
        let example = r#"
            hub = true
            hub_registry = "/var/lib/herald/twisted-hub.json"
            hein_serve = ["5005=sensors.*"]
            hein_max_receivers = 5
            hein_connect = ["192.168.1.20:5006=hein.lab"]
            hein_name = "herald-gw"
            pyconnect = true
            pyconnect_group = "239.255.4.3:3235"
            pyconnect_port = 4112
        "#;
        let keys: LegacyKeys = toml::from_str(example).unwrap();
        let config = legacy_config(
            LegacyArgs::default(),
            &keys,
            "gw",
            std::path::Path::new("/tmp"),
        )
        .unwrap();
        assert!(config.hub.is_some());
        assert_eq!(config.hein_serve[0].port, 5005);
        assert_eq!(config.hein_connect[0].name, "herald-gw");
        assert_eq!(config.pyconnect.unwrap().tcp_port, 4112);
        assert!(toml::from_str::<LegacyKeys>("hub_adress = \"x\"").is_err());
        let off = legacy_config(
            LegacyArgs::default(),
            &LegacyKeys::default(),
            "gw",
            std::path::Path::new("/tmp"),
        )
        .unwrap();
        assert!(off.is_empty());
    }
}
