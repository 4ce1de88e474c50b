//! `herald demo`: a small LAN on loopback beside a node, so that a newcomer's dashboard comes alive within
//! seconds. A few named nodes (the [`devices`]) advertise services, publish readings on topics, answer
//! questions each in its own way, and report to the IP log, now and then from another loopback address (a
//! host that moved). Every node is pinned to loopback; the command refuses any other interface.
//!
//! `cargo xtask run` starts it beside a node with the bridge and the IP log (`--no-demo` leaves it out).

mod devices;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{apply_global, stop_signal, FileConfig, GlobalArgs};
use crate::auth::Key;
use crate::config::{InterfaceSpec, NodeConfig};
use crate::iplog::reporter::{self, ReporterConfig};
use crate::node::{Node, StartError};
use crate::{IncomingQuestion, Payload};
use devices::{Device, Spec, DEVICES};

/// How often a device's readings move (and it may publish).
const TICK: Duration = Duration::from_secs(1);
/// How often a device looks for the IP log through discovery until it finds one.
const LOOKUP_EVERY: Duration = Duration::from_millis(500);
/// Reports a device makes from one address before it moves to the other.
const REPORTS_PER_MOVE: u32 = 6;
/// Reports before the first device's first move (the next ones move one report later each).
const FIRST_MOVE: u32 = 3;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The IP log to report to [default: the `dynip` service, found through discovery].
    #[arg(long, value_name = "ADDR:PORT")]
    dynip_server: Option<SocketAddr>,
    /// Seconds between two reports of a device to the IP log.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    report_every: f64,
    /// Stop after this many seconds [default: run until Ctrl-C or SIGTERM].
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

/// One running device: its node and its readings (shared with its answer handler).
struct Running {
    spec: Spec,
    node: Arc<Node>,
    device: Arc<Mutex<Device>>,
}

pub async fn run(
    global: &GlobalArgs,
    file: &FileConfig,
    args: DemoArgs,
) -> anyhow::Result<ExitCode> {
    if let Some(interface) = &global.interface {
        let loopback = interface
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
        if !loopback && interface != "lo" {
            bail!("herald demo runs on loopback only: --interface {interface} is not loopback");
        }
    }
    let key = match global.key_file.as_ref().or(file.key_file.as_ref()) {
        Some(path) => Some(Key::from_file(path).context("--key-file")?),
        None => None,
    };
    let mut running = Vec::new();
    for (index, spec) in DEVICES.into_iter().enumerate() {
        running.push(start_device(global, file, spec, index).await?);
    }
    eprintln!("herald demo: {} nodes on loopback:", running.len());
    for device in &running {
        eprintln!(
            "  {:<16} publishes {}; ask it: {}",
            device.spec.name, device.spec.topics, device.spec.questions
        );
    }
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let every = Duration::from_secs_f64(args.report_every.max(0.1));
    for (index, device) in running.iter().enumerate() {
        tasks.spawn(publish(
            device.node.clone(),
            device.device.clone(),
            stop.clone(),
        ));
        let reports = Reports {
            spec: device.spec,
            node: device.node.clone(),
            server: args.dynip_server,
            key: key.clone(),
            every,
            first_move: FIRST_MOVE + index as u32,
            tells_when_lost: index == 0,
        };
        tasks.spawn(reports.run(stop.clone()));
    }
    tasks.close();
    match args.duration {
        Some(secs) => {
            tokio::select! {
                _ = stop_signal() => {}
                _ = tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))) => {}
            }
        }
        None => stop_signal().await,
    }
    stop.cancel();
    tasks.wait().await;
    for device in running {
        match Arc::try_unwrap(device.node) {
            Ok(node) => node.shutdown().await,
            Err(_) => tracing::warn!(name = device.spec.name, "demo node still in use at exit"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts one device's node on loopback, answering with the device's own answers.
async fn start_device(
    global: &GlobalArgs,
    file: &FileConfig,
    spec: Spec,
    index: usize,
) -> anyhow::Result<Running> {
    let mut config = NodeConfig::new(spec.name);
    apply_global(&mut config, global, file)?;
    // Whatever the config file says: the demo never leaves loopback.
    config.interface = InterfaceSpec::Addr(Ipv4Addr::LOCALHOST);
    for (service, port) in spec.services {
        config.services.insert((*service).to_owned(), *port);
    }
    let node = match Node::start(config).await {
        Err(err @ StartError::NameTaken { .. }) => {
            bail!(
                "cannot start the demo's {}: {err} (is a demo running already?)",
                spec.name
            )
        }
        started => {
            Arc::new(started.with_context(|| format!("cannot start the demo's {}", spec.name))?)
        }
    };
    let device = Arc::new(Mutex::new(Device::new(spec.role, 1 + index as u64)));
    let answering = device.clone();
    node.answer_with(move |question: IncomingQuestion| {
        let text = question.payload.as_text().unwrap_or_default().to_owned();
        // A std mutex: held only to read the readings, never across an await.
        let answer = answering
            .lock()
            .map(|device| device.answer(&text))
            .unwrap_or_else(|_| "out of order".to_owned());
        async move { Ok(Payload::from(answer)) }
    });
    Ok(Running { spec, node, device })
}

/// Moves a device's readings on every [`TICK`] and publishes what it says, until stopped.
async fn publish(node: Arc<Node>, device: Arc<Mutex<Device>>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let readings = match device.lock() {
            Ok(mut device) => device.tick(),
            Err(_) => return,
        };
        for (topic, text) in readings {
            if let Err(err) = node.publish(topic, text).await {
                tracing::debug!(%err, topic, "demo reading not published");
            }
        }
    }
}

/// One device's reports to the IP log.
struct Reports {
    spec: Spec,
    node: Arc<Node>,
    server: Option<SocketAddr>,
    key: Option<Key>,
    every: Duration,
    /// The number of reports before the device first moves.
    first_move: u32,
    /// Whether this one says so when no IP log can be found (one device speaks for all).
    tells_when_lost: bool,
}

/// Whether report number `sent` (from 0) is made from the away address: home for the first `first_move`
/// reports, then away and home in turns of [`REPORTS_PER_MOVE`].
fn is_away(sent: u32, first_move: u32) -> bool {
    sent >= first_move && ((sent - first_move) / REPORTS_PER_MOVE).is_multiple_of(2)
}

impl Reports {
    /// Finds the IP log, then reports every `every` from the device's address, moving between its home and
    /// away addresses every [`REPORTS_PER_MOVE`] reports; until stopped.
    async fn run(self, stop: CancellationToken) {
        let Some(server) = self.find_server(&stop).await else {
            return;
        };
        tracing::info!(name = self.spec.name, %server, "demo device reports to the IP log");
        let mut tick = tokio::time::interval(self.every);
        let mut sent = 0u32;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let source = if is_away(sent, self.first_move) {
                self.spec.away
            } else {
                self.spec.home
            };
            let mut config = ReporterConfig::new(server, self.spec.name);
            config.key = self.key.clone();
            config.source = Some(IpAddr::V4(source));
            config.attempts = 3;
            tokio::select! {
                _ = stop.cancelled() => return,
                reported = reporter::report(&config) => {
                    if let Err(err) = reported {
                        tracing::debug!(name = self.spec.name, %err, "demo report not acknowledged");
                    }
                }
            }
            sent += 1;
        }
    }

    /// The IP log given, else the first `dynip` service discovery finds; `None` if stopped first.
    async fn find_server(&self, stop: &CancellationToken) -> Option<SocketAddr> {
        if let Some(server) = self.server {
            return Some(server);
        }
        let mut warned = false;
        let started = tokio::time::Instant::now();
        loop {
            if let Some(found) = self.node.lookup("dynip").into_iter().next() {
                // A server on 0.0.0.0 is advertised at the node's address: loopback here, as it should be.
                return Some(found);
            }
            if self.tells_when_lost && !warned && started.elapsed() > Duration::from_secs(10) {
                warned = true;
                eprintln!(
                    "herald demo: no IP log found yet (start a node with --dynip, or give --dynip-server); \
                     still looking"
                );
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(LOOKUP_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_reports_from_home_then_moves_away_and_back_in_turns() {
        let places: Vec<bool> = (0..20).map(|sent| is_away(sent, 3)).collect();
        assert_eq!(&places[..3], [false; 3]);
        assert_eq!(&places[3..9], [true; 6]);
        assert_eq!(&places[9..15], [false; 6]);
        assert_eq!(&places[15..20], [true; 5]);
    }
}
