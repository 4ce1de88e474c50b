//! `herald node`: runs a node in the foreground and prints its peer events (JSON lines with `--json`) until
//! Ctrl-C or SIGTERM, then leaves gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::answer_command::CommandAnswerer;
use super::bridge::BridgeArgs;
use super::{apply_global, stop_signal, FileConfig, GlobalArgs};
use crate::config::NodeConfig;
use crate::discovery::peers::PeerChange;
use crate::events::NodeEvent;
use crate::iplog::IpLog;
use crate::messaging::Subscription;
use crate::node::{Events, Node, StartError};
use herald_core::iplog::IpChange;
use herald_core::PeerKind;
use tokio::sync::broadcast;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Unique name on the LAN [default: the host name].
    #[arg(long)]
    name: Option<String>,
    /// Advertise a service at a port of this host (repeatable).
    #[arg(long = "service", value_name = "NAME=PORT", value_parser = parse_service)]
    services: Vec<(String, u16)>,
    /// Subscribe to a topic pattern (`chat`, `sensors.*`; repeatable); messages are printed.
    #[arg(long = "subscribe", value_name = "TOPIC")]
    subscribe: Vec<String>,
    /// Answer questions by running CMD (no shell; quotes split words): the question on its stdin, its stdout
    /// is the answer; killed at the asker's timeout; at most 4 at once. Without it: built-in `ping` and `info`.
    #[arg(long, value_name = "CMD")]
    answer_with: Option<String>,
    #[command(flatten)]
    tuning: TuningArgs,
    /// Also run the IP log: serve DynIP reports on ADDR:PORT [default: 0.0.0.0:28630], advertise it as the
    /// `dynip` service, record peers' address changes seen by discovery, and print address changes.
    #[arg(long, value_name = "ADDR:PORT", num_args = 0..=1)]
    dynip: Option<Option<SocketAddr>>,
    /// The IP log's SQLite database (with --dynip) [default: iplog.db in the state directory].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Print one JSON event per line (the bridge's event form).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    bridge: BridgeArgs,
    #[command(flatten)]
    legacy: super::legacy::LegacyArgs,
    #[command(flatten)]
    mdns: super::mdns::MdnsArgs,
    #[command(flatten)]
    sites: super::sites::SiteArgs,
}

/// The node's link port, timing, overflow policy and bounds; each also a key of the config file.
#[derive(Debug, Args)]
pub struct TuningArgs {
    /// TCP port for links from other nodes [default: an ephemeral port, announced in beacons].
    #[arg(long)]
    port: Option<u16>,
    /// UDP port for unicast discovery on the interface's address (where other nodes reach this one as a seed)
    /// [default: the group's port, 7268; an ephemeral port when taken, said in the log].
    #[arg(long, value_name = "PORT")]
    discovery_port: Option<u16>,
    /// Milliseconds between beacons.
    #[arg(long, value_name = "MS")]
    heartbeat: Option<u64>,
    /// A peer is lost after this many of its heartbeats without a beacon.
    #[arg(long, value_name = "N")]
    expiry_beats: Option<u32>,
    /// What a full link queue does: drop-oldest (default; the subscriber is told how many it missed),
    /// disconnect, or block (lossless: the publisher waits).
    #[arg(long, value_name = "POLICY")]
    overflow: Option<crate::queue::OverflowPolicy>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl TuningArgs {
    /// Puts what was given (flag first, else config file) into `config`.
    fn apply(&self, file: &FileConfig, config: &mut NodeConfig) {
        if let Some(port) = self.port.or(file.port) {
            config.tcp_port = port;
        }
        if let Some(port) = self.discovery_port.or(file.discovery_port) {
            config.discovery_port = Some(port);
        }
        if let Some(ms) = self.heartbeat.or(file.heartbeat) {
            config.heartbeat = Duration::from_millis(ms.max(10));
        }
        if let Some(beats) = self.expiry_beats.or(file.expiry_beats) {
            config.expiry_beats = beats;
        }
        if let Some(policy) = self.overflow.or(file.overflow) {
            config.overflow = policy;
        }
        self.limits.apply(file, config);
    }
}

/// The node's bounds; each also a key of the config file.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Bound on the peer table; beyond it new peers are refused and counted.
    #[arg(long, value_name = "N")]
    max_peers: Option<usize>,
    /// As a publisher, serve at most N subscribers per topic pattern; others are refused (and told).
    #[arg(long, value_name = "N")]
    max_subscribers: Option<u32>,
    /// Links other nodes may hold open to this one at once; more wait to be accepted [default: 1024].
    #[arg(long, value_name = "N")]
    max_links: Option<usize>,
    /// Questions this node may have in flight at once [default: 4096].
    #[arg(long, value_name = "N")]
    max_pending_questions: Option<usize>,
    /// Questions this node answers at once; more are answered `busy` [default: 64].
    #[arg(long, value_name = "N")]
    max_concurrent_answers: Option<usize>,
}

impl LimitArgs {
    /// Puts the bounds given (flag first, else config file) into `config`.
    fn apply(&self, file: &FileConfig, config: &mut NodeConfig) {
        if let Some(max) = self.max_peers.or(file.max_peers) {
            config.max_peers = max;
        }
        if let Some(limit) = self.max_subscribers.or(file.max_subscribers) {
            config.subscriber_limit = Some(limit);
        }
        if let Some(max) = self.max_links.or(file.max_links) {
            config.max_links = max.max(1);
        }
        if let Some(max) = self.max_pending_questions.or(file.max_pending_questions) {
            config.max_pending_questions = max.max(1);
        }
        if let Some(max) = self.max_concurrent_answers.or(file.max_concurrent_answers) {
            config.max_concurrent_answers = max.max(1);
        }
    }
}

fn parse_service(text: &str) -> Result<(String, u16), String> {
    let (name, port) = text.split_once('=').ok_or("expected NAME=PORT")?;
    let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    if name.is_empty() {
        return Err("empty service name".into());
    }
    Ok((name.to_owned(), port))
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: NodeArgs,
) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .or_else(|| file.name.clone())
        .unwrap_or_else(crate::identity::hostname);
    let state_dir = super::state_dir(global, file);
    let legacy = super::legacy::legacy_config(args.legacy, &file.legacy, &name, &state_dir)?;
    let site = super::sites::site_config(args.sites, &file.nats)?;
    let mut config = NodeConfig::new(name);
    apply_global(&mut config, global, file)?;
    config.services.extend(file.service.clone());
    config.services.extend(args.services);
    // Subscribed after start, into one lossless stream (see below).
    let mut patterns = file.subscribe.clone();
    patterns.extend(args.subscribe);
    for pattern in &patterns {
        crate::topics::TopicPattern::parse(pattern)
            .with_context(|| format!("--subscribe {pattern:?}"))?;
    }
    args.tuning.apply(file, &mut config);
    let mdns = args.mdns.config(file, config.interface.clone())?;
    let answerer = match args.answer_with.as_ref().or(file.answer_with.as_ref()) {
        Some(command) => Some(CommandAnswerer::new(command)?),
        None => None,
    };
    let json = args.json || file.json.unwrap_or(false);
    let dynip = match args.dynip {
        Some(listen) => Some(listen),
        None if file.dynip.serve == Some(true) => Some(None),
        None => None,
    };
    let node = match Node::start(config).await {
        Err(err @ StartError::NameTaken { .. }) => bail!("cannot start the node: {err} (--name)"),
        started => Arc::new(started.context("cannot start the node")?),
    };
    // Taken first, so it has every event since start (the bridge, started below, works from its snapshot).
    let events = node.events();
    let iplog = match dynip {
        Some(listen) => {
            let log = super::dynip::start_for_node(global, file, listen, args.db).await?;
            if let Some(addr) = log.local_addr() {
                node.advertise("dynip", addr.port());
            }
            Some(log)
        }
        None => None,
    };
    let bridge = super::bridge::start(
        args.bridge,
        &file.bridge,
        &node,
        iplog.clone(),
        patterns.iter().cloned().collect(),
    )
    .await?;
    if let Some(answerer) = answerer {
        node.answer_with(answerer);
    }
    let gateways = if legacy.is_empty() {
        None
    } else {
        Some(
            crate::legacy::Gateways::start(&node, legacy)
                .await
                .context("cannot start the legacy gateways")?,
        )
    };
    let mdns = super::mdns::start(&node, mdns).await?;
    let mut site_gateway = match site {
        Some(site) => Some(
            crate::sites::SiteGateway::start(node.clone(), site)
                .await
                .context("cannot start the site gateway")?,
        ),
        None => None,
    };
    // Subscribed messages come from one lossless subscription stream (a slow stdout slows the links, and the
    // publishers' policy applies); the event stream, which may lag, brings the rest.
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let messages = node.subscription_to(&patterns)?;
    if !json {
        eprintln!(
            "herald: node {} ({}) on {}; Ctrl-C to leave",
            node.name(),
            node.id().short(),
            node.info().addr
        );
    }
    let gateway_stopped = async {
        match site_gateway.as_mut() {
            Some(gateway) => gateway.stopped().await,
            None => std::future::pending().await,
        }
    };
    let mut failed = None;
    tokio::select! {
        _ = print_until_stopped(&node, events, messages, iplog.as_ref(), json) => {}
        result = gateway_stopped => failed = result.err(),
    }
    if let Some(gateway) = site_gateway {
        gateway.shutdown().await;
    }
    if let Some(mdns) = mdns {
        mdns.shutdown().await;
    }
    if let Some(gateways) = gateways {
        gateways.shutdown().await;
    }
    if let Some(bridge) = bridge {
        bridge.shutdown().await;
    }
    match Arc::try_unwrap(node) {
        Ok(node) => node.shutdown().await,
        Err(_) => tracing::warn!("the node is still in use at exit: not leaving gracefully"),
    }
    if let Some(log) = iplog {
        log.shutdown().await;
    }
    if let Some(err) = failed {
        bail!("the site gateway stopped: {err}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the node's events, its subscribed messages and the IP log's changes until Ctrl-C or SIGTERM (or the
/// node stops), feeding discovery's view of addresses into the IP log on the way.
async fn print_until_stopped(
    node: &Node,
    mut events: Events,
    mut messages: Subscription,
    iplog: Option<&IpLog>,
    json: bool,
) {
    let mut changes = iplog.map(IpLog::changes);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(delivery) = messages.next() => print_event(&delivery.into(), json),
            event = events.next() => {
                let Some(event) = event else { break };
                if let Some(log) = iplog {
                    record_in_log(log, node, &event);
                }
                match event {
                    // Both come in order from the subscription stream.
                    NodeEvent::Message(m) if m.topic.is_some() => {}
                    NodeEvent::Missed { .. } => {}
                    event => print_event(&event, json),
                }
            }
            Some(change) = next_change(&mut changes) => print_change(change, json),
        }
    }
}

/// Feeds discovery's view of addresses into the IP log. The event stream may lag: then every live peer is
/// recorded again (a sighting at an unchanged address only extends its period), so no change is lost.
fn record_in_log(log: &IpLog, node: &Node, event: &NodeEvent) {
    match event {
        NodeEvent::Peer(event) => {
            log.record_peer_event(event);
        }
        NodeEvent::Lagged { .. } => {
            let now = crate::clock::unix_ms();
            for peer in node.peers() {
                if peer.kind != PeerKind::Cli {
                    log.record_discovery_change(&peer.address(), peer.addr, now);
                }
            }
        }
        _ => {}
    }
}

/// The next address change, or never when there is no IP log; `None` once the log has stopped.
async fn next_change(
    changes: &mut Option<broadcast::Receiver<IpChange>>,
) -> Option<Result<IpChange, u64>> {
    let Some(changes) = changes else {
        return std::future::pending().await;
    };
    match changes.recv().await {
        Ok(change) => Some(Ok(change)),
        Err(broadcast::error::RecvError::Lagged(missed)) => Some(Err(missed)),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

fn print_change(change: Result<IpChange, u64>, json: bool) {
    match change {
        Ok(change) => super::dynip::print_change(&change, json),
        Err(missed) => eprintln!("warning: {missed} address changes not printed (output too slow)"),
    }
}

fn print_event(event: &NodeEvent, json: bool) {
    if json {
        println!(
            "{}",
            crate::bridge_adapter::event_form::node_event(event).to_json()
        );
        return;
    }
    match event {
        NodeEvent::Peer(event) => {
            let peer = &event.peer;
            let what = match &event.change {
                PeerChange::Joined => "joined".to_owned(),
                PeerChange::Changed {
                    old_addr: Some(old),
                } => format!("changed (was {old})"),
                PeerChange::Changed { old_addr: None } => "changed".to_owned(),
                PeerChange::Left => "left".to_owned(),
                PeerChange::Lost => "lost".to_owned(),
            };
            println!(
                "{what:<8} {:<20} {:<15} {}",
                peer.address(),
                peer.addr,
                super::services_text(peer)
            );
        }
        NodeEvent::NameConflict(conflict) => {
            eprintln!(
                "warning: node {} at {} claims this node's name {:?}",
                conflict.claimant, conflict.addr, conflict.name
            )
        }
        NodeEvent::Message(message) => {
            let text = message.payload.as_text().map_or_else(
                || format!("({} bytes)", message.payload.len()),
                str::to_owned,
            );
            println!(
                "message  {:<20} {:<20} {text}",
                message.from_name,
                message.topic.as_deref().unwrap_or("(direct)")
            );
        }
        NodeEvent::Missed { from, topic, count } => {
            eprintln!("warning: {from} dropped {count} messages on {topic} for this node")
        }
        NodeEvent::AnswerFailed { from, reason } => {
            eprintln!("warning: answering {from} failed: {reason}")
        }
        NodeEvent::Refused { from, reason } => {
            eprintln!("warning: {from} refused this node: {reason:?}")
        }
        NodeEvent::Lagged { missed } => {
            eprintln!("warning: missed {missed} events (output too slow)")
        }
    }
}
