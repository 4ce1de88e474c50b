//! The TOML config file (`--config FILE`): every flag has a key of the same name, with `_` for `-`.
//!
//! ```toml
//! name = "kitchen"
//! interface = "eth0"
//! group = "239.255.72.68:7268"
//! seeds = ["192.0.2.10", "192.0.2.11:7268"]
//! discovery_port = 7268
//! key_file = "/etc/herald/key"
//! state_dir = "/var/lib/herald"
//! heartbeat = 1000        # ms
//! expiry_beats = 3
//! max_peers = 1024
//! json = false
//! subscribe = ["sensors.*"]
//! answer_with = "uptime -p"
//! max_subscribers = 5
//! max_links = 1024
//! max_pending_questions = 4096
//! max_concurrent_answers = 64
//! overflow = "drop-oldest"
//! mdns = false
//! mdns_browse = ["_ipp._tcp"]
//! [service]
//! web = 8080
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Keys of the config file; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--name`
    pub name: Option<String>,
    /// `--interface`
    pub interface: Option<String>,
    /// `--group`
    pub group: Option<SocketAddrV4>,
    /// `--seed HOST[:PORT]`, as a list.
    pub seeds: Option<Vec<String>>,
    /// `--discovery-port`
    pub discovery_port: Option<u16>,
    /// `--key-file`
    pub key_file: Option<PathBuf>,
    /// `--state-dir`
    pub state_dir: Option<PathBuf>,
    /// `--service NAME=PORT`, as a table.
    #[serde(default)]
    pub service: BTreeMap<String, u16>,
    /// `--subscribe TOPIC`, as a list.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// `--port`
    pub port: Option<u16>,
    /// `--heartbeat` (ms)
    pub heartbeat: Option<u64>,
    /// `--expiry-beats`
    pub expiry_beats: Option<u32>,
    /// `--max-peers`
    pub max_peers: Option<usize>,
    /// `--json`
    pub json: Option<bool>,
    /// `--answer-with`
    pub answer_with: Option<String>,
    /// `--max-subscribers`
    pub max_subscribers: Option<u32>,
    /// `--max-links`
    pub max_links: Option<usize>,
    /// `--max-pending-questions`
    pub max_pending_questions: Option<usize>,
    /// `--max-concurrent-answers`
    pub max_concurrent_answers: Option<usize>,
    /// `--overflow` (`drop-oldest`, `disconnect`, `block`)
    #[serde(default, deserialize_with = "policy")]
    pub overflow: Option<crate::queue::OverflowPolicy>,
    /// `herald node --mdns`
    pub mdns: Option<bool>,
    /// `herald node --mdns-browse TYPE`, as a list.
    #[serde(default)]
    pub mdns_browse: Vec<String>,
    /// Replay window for signed datagrams (ms); no flag.
    pub replay_window_ms: Option<u64>,
    /// `herald dynip` keys, as a `[dynip]` table (`listen`, `db`, `sync`, `max_hosts`, `rate`, `burst`,
    /// `legacy_allow`, `legacy_json`, `advertise`, `server`, `name`, `every`, `attempts`).
    #[serde(default)]
    pub dynip: DynipKeys,
    /// `herald node --bridge` keys, as a `[bridge]` table (`listen`, `token_file`, `allow_origins`,
    /// `dashboard_dir`).
    #[serde(default)]
    pub bridge: super::bridge::BridgeKeys,
    /// `herald node`'s legacy gateway keys, as a `[legacy]` table (see [`super::legacy::LegacyKeys`]).
    #[serde(default)]
    pub legacy: super::legacy::LegacyKeys,
    /// `herald node`'s site gateway keys, as a `[nats]` table (see [`super::sites::NatsKeys`]).
    #[serde(default)]
    pub nats: super::sites::NatsKeys,
}

fn policy<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::queue::OverflowPolicy>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| t.parse().map_err(serde::de::Error::custom))
        .transpose()
}

impl FileConfig {
    /// Reads and parses a config file; unknown keys are errors (a typo should not be ignored).
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_typos_do_not() {
        let example = r#"
            name = "kitchen"
            interface = "eth0"
            group = "239.255.72.68:7268"
            key_file = "/etc/herald/key"
            heartbeat = 1000
            expiry_beats = 3
            max_peers = 1024
            json = false
            overflow = "block"
            seeds = ["192.0.2.10", "192.0.2.11:7300"]
            discovery_port = 7268
            mdns = true
            mdns_browse = ["_ipp._tcp"]
            [service]
            web = 8080
        "#;
        let config: FileConfig = toml::from_str(example).unwrap();
        assert_eq!(config.service["web"], 8080);
        assert_eq!(config.group, Some("239.255.72.68:7268".parse().unwrap()));
        assert_eq!(config.overflow, Some(crate::queue::OverflowPolicy::Block));
        assert_eq!(config.seeds.as_ref().map(Vec::len), Some(2));
        assert_eq!(config.discovery_port, Some(7268));
        assert_eq!((config.mdns, config.mdns_browse.len()), (Some(true), 1));
        assert!(toml::from_str::<FileConfig>("nmae = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("overflow = \"sometimes\"").is_err());
    }

    /// The Debian package's default config, as shipped and with every example line (`#key = ...`,
    /// `#[table]`) switched on: each key must be one this file knows.
    #[test]
    fn the_packaged_config_parses_with_and_without_its_examples() {
        let shipped = include_str!("../../../packaging/herald.toml");
        let config: FileConfig = toml::from_str(shipped).unwrap();
        assert_eq!(
            config.bridge.listen,
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(config.dynip.serve, None);
        let examples: String = shipped
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
                _ => line,
            })
            .flat_map(|line| [line, "\n"])
            .collect();
        let all: FileConfig = toml::from_str(&examples).unwrap();
        assert_eq!(all.name.as_deref(), Some("kitchen"));
        assert_eq!(all.key_file.as_deref(), Some(Path::new("/etc/herald/key")));
        assert_eq!(all.service["web"], 80);
        assert_eq!(all.dynip.serve, Some(true));
        assert!(all.bridge.token_file.is_some());
        assert_eq!(all.mdns, Some(true));
    }
}

/// `herald dynip` keys of the TOML config file, in a `[dynip]` table (each is the flag of the same name).
///
/// ```toml
/// [dynip]
/// listen = "0.0.0.0:28630"
/// db = "/var/lib/herald/iplog.db"
/// sync = "normal"            # or "full"
/// max_hosts = 10000
/// rate = 20.0                # datagrams/s per source; 0 = no limit
/// burst = 100
/// legacy_allow = ["192.168.1.0/24"]
/// legacy_json = "/var/lib/dynip/dynip.json"
/// advertise = true
/// serve = true               # herald node also runs the IP log (its --dynip)
/// server = "logger.lan:28630"
/// name = "laptop-7"
/// every = 300
/// attempts = 5
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynipKeys {
    /// `serve --listen`
    pub listen: Option<SocketAddr>,
    /// `--db`
    pub db: Option<PathBuf>,
    /// `serve --sync`
    pub sync: Option<String>,
    /// `serve --max-hosts`
    pub max_hosts: Option<usize>,
    /// `serve --rate`
    pub rate: Option<f64>,
    /// `serve --burst`
    pub burst: Option<u32>,
    /// `serve --legacy-allow`, as a list.
    #[serde(default)]
    pub legacy_allow: Vec<String>,
    /// `serve --legacy-json`
    pub legacy_json: Option<PathBuf>,
    /// `serve --no-advertise` when false.
    pub advertise: Option<bool>,
    /// `report --server`
    pub server: Option<String>,
    /// `report --name`
    pub name: Option<String>,
    /// `report --every`
    pub every: Option<f64>,
    /// `report --attempts`
    pub attempts: Option<u32>,
    /// `herald node --dynip` when true: the node serves DynIP (at `listen`) and keeps the log (in `db`).
    pub serve: Option<bool>,
}
