//! The `herald` command line: argument parsing (clap), the TOML config file, and one module per subcommand.
//! Everything here may print; the library below does not.

mod answer_command;
mod ask;
mod bridge;
mod demo;
mod dynip;
mod file;
mod keygen;
mod legacy;
mod lookup;
mod mdns;
mod node;
mod peers;
mod publish;
mod send;
mod sites;
mod subscribe;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::auth::Key;
use crate::config::NodeConfig;
pub use file::FileConfig;

const EXAMPLES: &str = "\
Examples:
  herald node --name alpha --interface 127.0.0.1 --service web=8080 --json
  herald node --name kitchen --interface eth0          # on the LAN
  herald peers --interface 127.0.0.1 --wait 2
  herald lookup web --interface 127.0.0.1
  herald subscribe 'sensors.*' --interface 127.0.0.1 --json
  herald publish sensors.kitchen '21.5 C' --interface 127.0.0.1
  herald send --to alpha --to bravo 'hello' --interface 127.0.0.1
  herald ask --to alpha --timeout 2 ping --interface 127.0.0.1
  herald node --name alpha --interface 127.0.0.1 --answer-with 'uptime -p'
  herald keygen /etc/herald/key && herald node --key-file /etc/herald/key
  herald node --interface 127.0.0.1 --bridge --dynip 127.0.0.1:28630 --subscribe '*' & herald demo

Without --interface a node uses the LAN interface its routing table picks for the group. Without a key file nothing is authenticated.

Documentation: the README, https://github.com/herald-lan/herald#readme (installed by the Debian package as /usr/share/doc/herald/README.md.gz).";

/// Herald: find programs on your LAN, and talk to them.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More logging on stderr: -v info, -vv debug.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Debug logging (same as -vv).
    #[arg(long, global = true)]
    pub debug: bool,
    /// TOML config file; every flag has a key of the same name (flags win).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Interface for discovery: an IPv4 address (127.0.0.1) or a name (eth0, followed as its address
    /// changes). Default: the LAN interface the routing table picks for the group.
    #[arg(long, global = true, value_name = "IP|NAME")]
    pub interface: Option<String>,
    /// Multicast group and port.
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub group: Option<SocketAddrV4>,
    /// A seed to reach by unicast where multicast is blocked: another node's address (or host name), port
    /// 7268 unless given; repeatable. It tells this node of the peers it knows.
    #[arg(long = "seed", global = true, value_name = "HOST[:PORT]")]
    pub seeds: Vec<crate::config::Seed>,
    /// Shared key file (one line of hex or base64, 32+ bytes): sign and require signed traffic.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Where node ids, the IP log and the hub's registry are kept [default: $XDG_STATE_HOME/herald, else
    /// ~/.local/state/herald]. The systemd units give /var/lib/herald.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node in the foreground until Ctrl-C; print peer events.
    Node(Box<node::NodeArgs>),
    /// Join briefly and print the live peers.
    Peers(peers::PeersArgs),
    /// Print one IP:PORT per provider of a service; exit 1 if there is none.
    Lookup(lookup::LookupArgs),
    /// Publish one message on a topic to every subscriber on the LAN.
    Publish(publish::PublishArgs),
    /// Print messages on a topic pattern until Ctrl-C (or --count).
    Subscribe(subscribe::SubscribeArgs),
    /// Send a direct message to named peers (or all) and exit.
    Send(send::SendArgs),
    /// Ask named peers (or all) a question; print name -> answer or null as JSON.
    Ask(ask::AskArgs),
    /// Write a new random key file (or print one).
    Keygen(keygen::KeygenArgs),
    /// The IP log: serve DynIP, report this host's address, print the history.
    Dynip(dynip::DynipArgs),
    /// Run a small demo LAN on loopback (nodes publishing readings, answering, reporting to the IP log).
    ///
    /// Four nodes (greenhouse, weather-station, printer, coffee-machine) join the group on loopback beside
    /// your node: they advertise services, publish readings on sensors.*, office.* and kitchen.*, answer
    /// questions (ping, and each its own), and report to the IP log (found through discovery, or
    /// --dynip-server), now and then from another loopback address. Start the node with --subscribe '*' (or
    /// subscribe from the dashboard) to see the readings in its feed. `cargo xtask run` does all of this.
    Demo(demo::DemoArgs),
}

impl Cli {
    /// Log level from `-v`/`--debug`.
    pub fn log_filter(&self) -> &'static str {
        match (self.global.debug, self.global.verbose) {
            (true, _) | (_, 2..) => "debug",
            (_, 1) => "info",
            _ => "warn",
        }
    }

    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let file = match (&self.command, &self.global.config) {
            // `herald dynip` reads its own: the TOML file, or the old DynIP INI file.
            (Command::Dynip(_), _) | (_, None) => FileConfig::default(),
            (_, Some(path)) => FileConfig::read(path)?,
        };
        match self.command {
            Command::Node(args) => node::run(&self.global, &file, *args).await,
            Command::Peers(args) => peers::run(&self.global, &file, args).await,
            Command::Lookup(args) => lookup::run(&self.global, &file, args).await,
            Command::Publish(args) => publish::run(&self.global, &file, args).await,
            Command::Subscribe(args) => subscribe::run(&self.global, &file, args).await,
            Command::Send(args) => send::run(&self.global, &file, args).await,
            Command::Ask(args) => ask::run(&self.global, &file, args).await,
            Command::Keygen(args) => keygen::run(args),
            Command::Dynip(args) => dynip::run(&self.global, args).await,
            Command::Demo(args) => demo::run(&self.global, &file, args).await,
        }
    }
}

/// Applies the global flags (over the config file's keys) to a node config.
fn apply_global(
    config: &mut NodeConfig,
    global: &GlobalArgs,
    file: &FileConfig,
) -> anyhow::Result<()> {
    if let Some(interface) = global.interface.as_ref().or(file.interface.as_ref()) {
        config.interface = interface.parse().expect("infallible");
    }
    if let Some(group) = global.group.or(file.group) {
        config.group = group;
    }
    if !global.seeds.is_empty() {
        config.seeds = global.seeds.clone();
    } else if let Some(seeds) = &file.seeds {
        config.seeds = seeds
            .iter()
            .map(|s| s.parse().with_context(|| format!("seeds: {s:?}")))
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(port) = file.discovery_port {
        config.discovery_port = Some(port);
    }
    if let Some(path) = global.key_file.as_ref().or(file.key_file.as_ref()) {
        config.key = Some(Key::from_file(path).with_context(|| "--key-file")?);
    }
    if let Some(ms) = file.replay_window_ms {
        config.replay_window = std::time::Duration::from_millis(ms);
    }
    if config.node_id.is_none() {
        let dir = state_dir(global, file);
        config.node_id = Some(crate::identity::node_id_in(&dir, &config.name));
    }
    Ok(())
}

/// The state directory: `--state-dir`, else the `state_dir` key, else the default
/// ([`crate::identity::state_dir`]).
fn state_dir(global: &GlobalArgs, file: &FileConfig) -> PathBuf {
    global
        .state_dir
        .clone()
        .or_else(|| file.state_dir.clone())
        .unwrap_or_else(crate::identity::state_dir)
}

/// A config for a CLI one-shot: kind `cli`, a generated name, a fresh id, no name-claim wait.
fn one_shot_config(global: &GlobalArgs, file: &FileConfig) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::new(crate::identity::one_shot_name());
    config.kind = herald_core::PeerKind::Cli;
    config.node_id = Some(crate::identity::random_node_id());
    config.claim_wait = std::time::Duration::ZERO;
    apply_global(&mut config, global, file)?;
    // A one-shot uses seeds but is never one: it leaves the discovery port to the host's node.
    config.discovery_port = Some(0);
    Ok(config)
}

/// Joins as a CLI one-shot and waits until the `to` names are known (or, with `all`, `wait` seconds to learn
/// who is there); the node and the targets for `send` and `ask`.
async fn join_for_targets(
    global: &GlobalArgs,
    file: &FileConfig,
    to: Vec<String>,
    all: bool,
    wait: f64,
) -> anyhow::Result<(crate::node::Node, herald_core::bridge::Targets)> {
    let node = crate::node::Node::start(one_shot_config(global, file)?)
        .await
        .context("cannot join the group")?;
    let wait = std::time::Duration::from_secs_f64(wait.max(0.0));
    if all {
        await_peers(&node, None, wait).await;
        return Ok((node, herald_core::bridge::Targets::All));
    }
    await_peers(&node, Some(&to), wait).await;
    for name in &to {
        let candidates = node.candidates(name);
        if node.peer(name).is_none() && candidates.len() > 1 {
            node.shutdown().await;
            anyhow::bail!(
                "{name:?} is ambiguous: {}; say which as name@site",
                candidates.join(", ")
            );
        }
    }
    Ok((node, herald_core::bridge::Targets::Names(to)))
}

/// Waits until every name in `names` is a live peer, or `wait` passes (with `None`: waits `wait`, to learn
/// who is there).
async fn await_peers(
    node: &crate::node::Node,
    names: Option<&[String]>,
    wait: std::time::Duration,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if names.is_some_and(|names| names.iter().all(|n| node.peer(n).is_some())) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The message bytes from the command line: the text itself, or base64 of it with `--base64`.
fn message_bytes(message: &str, base64: bool) -> anyhow::Result<Vec<u8>> {
    if !base64 {
        return Ok(message.as_bytes().to_vec());
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(message.trim())
        .context("--base64: the message is not base64")
}

/// A peer's services as `name=ip:port` words, for the human-readable output.
fn services_text(peer: &herald_core::bridge::PeerInfo) -> String {
    let words: Vec<String> = peer
        .services
        .iter()
        .map(|(name, addr)| format!("{name}={addr}"))
        .collect();
    words.join(" ")
}

/// Longest TXT summary `herald peers` prints on a peer's line (the rest is cut at a `…`; `--json` has all).
const TXT_BRIEF: usize = 60;

/// A DNS-SD peer's TXT records, brief, for a peer's line: `txt: k=v k=v`, at most [`TXT_BRIEF`] characters
/// of records; empty when it has none.
fn txt_brief(peer: &herald_core::bridge::PeerInfo) -> String {
    if peer.txt.is_empty() {
        return String::new();
    }
    let words: Vec<String> = peer.txt.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = words.join(" ");
    match text.char_indices().nth(TXT_BRIEF) {
        Some((cut, _)) => format!("txt: {}…", &text[..cut]),
        None => format!("txt: {text}"),
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_is_brief_on_a_peer_line() {
        let mut peer: herald_core::bridge::PeerInfo = serde_json::from_str(
            r#"{"node_id":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1","name":"printer","kind":"mdns",
            "addr":"198.51.100.11","tcp":null,"services":{},"topics":[],"via":null,
            "first_seen_ms":1,"last_seen_ms":1,"state":"live"}"#,
        )
        .unwrap();
        assert!(peer.txt.is_empty(), "absent in older JSON");
        assert_eq!(txt_brief(&peer), "");
        peer.txt = [
            ("rp".to_owned(), "printers/x".to_owned()),
            ("ty".to_owned(), "Lab".to_owned()),
        ]
        .into();
        assert_eq!(txt_brief(&peer), "txt: rp=printers/x ty=Lab");
        peer.txt.insert("note".into(), "é".repeat(100));
        let brief = txt_brief(&peer);
        assert!(brief.starts_with("txt: note=éé"), "{brief}");
        assert!(brief.ends_with('…'), "{brief}");
        assert_eq!(brief.chars().count(), "txt: ".len() + TXT_BRIEF + 1);
    }
}
