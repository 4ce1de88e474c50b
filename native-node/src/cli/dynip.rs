//! `herald dynip serve|report|history|export|import`: the IP log from the command line.
//!
//! `serve` runs the DynIP server (Herald reports and legacy hostname datagrams on UDP 28630) over the SQLite
//! log and advertises it as the `dynip` service; `report` is the client (one shot for cron, or `--every`);
//! `history` and `export` read the same database, also while the server runs; `import` loads an old server's
//! JSON log, and `report --legacy` speaks to an old server, for a LAN that migrates one host at a time. `--config` takes Herald's TOML
//! (keys in a `[dynip]` table) or the old DynIP INI file (recognised by its `[DynIP:Server]`/`[DynIP:Client]`
//! sections).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use herald_core::bridge::{BridgeEvent, HistoryQuery};
use herald_core::iplog::{IpChange, DEFAULT_DYNIP_PORT};
use tokio::sync::broadcast::error::RecvError;

use super::{apply_global, one_shot_config, stop_signal, FileConfig, GlobalArgs};
use crate::auth::Key;
use crate::config::NodeConfig;
use crate::iplog::legacy::{self, LegacyConfig};
use crate::iplog::rate::RateLimit;
use crate::iplog::reporter::{self, ReportError, ReporterConfig};
use crate::iplog::store::Store;
use crate::iplog::{
    import_entries, ImportMode, IpLog, IpLogConfig, StoreOptions, StoreReader, SyncMode,
    DEFAULT_DB_FILE,
};
use crate::node::Node;

const EXAMPLES: &str = "\
Examples:
  herald dynip serve                                   # UDP 0.0.0.0:28630, database in the state directory
  herald dynip serve --config /etc/dynip.conf          # the old DynIP INI file, unchanged
  herald dynip report --server logger.lan              # one shot, for cron
  herald dynip report --every 300 --key-file /etc/herald/key
  herald dynip history laptop-7
  herald dynip export --format dynip-json --output dynip.json
  herald dynip import /var/lib/dynip/dynip.json        # an old server's log into the history
  herald dynip report --legacy --server old-logger.lan # the old client's datagram, to an old server

The database defaults to iplog.db in the state directory (--state-dir, else $XDG_STATE_HOME/herald, else ~/.local/state/herald).";

/// The IP log: serve DynIP, report this host, read the history.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct DynipArgs {
    #[command(subcommand)]
    command: DynipCommand,
}

#[derive(Debug, Subcommand)]
enum DynipCommand {
    /// Serve DynIP: record the address of every host that reports, until Ctrl-C.
    Serve(ServeArgs),
    /// Report this host's address to the server; exit 0 once acknowledged, 1 if never, 3 if refused.
    Report(ReportArgs),
    /// Print the address history (periods with first and last seen).
    History(HistoryArgs),
    /// Write the log in another format (the old DynIP JSON file).
    Export(ExportArgs),
    /// Load an old DynIP server's JSON log into the history (run it while no server uses the database).
    Import(ImportArgs),
}

#[derive(Debug, Default, Args)]
struct ServeArgs {
    /// UDP address to listen on [default: 0.0.0.0:28630, or the INI file's server_ip/server_port].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// SQLite database [default: iplog.db in the state directory].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Commit durability: `normal` survives a crash or kill -9, `full` also a power loss.
    #[arg(long, value_name = "normal|full")]
    sync: Option<SyncMode>,
    /// Bound on distinct hosts; at the cap new hosts are refused (and counted), known hosts keep updating.
    #[arg(long, value_name = "N")]
    max_hosts: Option<usize>,
    /// Datagrams per second accepted from one source address (0: no limit) [default: 20].
    #[arg(long, value_name = "PER_SEC")]
    rate: Option<f64>,
    /// Datagrams one quiet source may send at once [default: 100].
    #[arg(long, value_name = "N")]
    burst: Option<u32>,
    /// With a key: accept legacy (unsigned) datagrams from this network anyway (repeatable, CIDR).
    #[arg(long = "legacy-allow", value_name = "CIDR")]
    legacy_allow: Vec<ipnet::IpNet>,
    /// Keep this old DynIP JSON file up to date (the INI file's client_log_path); its hosts are imported.
    #[arg(long, value_name = "FILE")]
    legacy_json: Option<PathBuf>,
    /// Do not advertise the `dynip` service through discovery.
    #[arg(long)]
    no_advertise: bool,
    /// Node name for the advertisement [default: <hostname>-dynip].
    #[arg(long, value_name = "NAME")]
    advertise_name: Option<String>,
    /// Print address changes and counters as JSON lines (the bridge's events).
    #[arg(long)]
    json: bool,
    /// Print the counters every SECS while they change (0: only at exit).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    stats_every: f64,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The server [default: the INI file's server_hostname, else found through discovery (service `dynip`)].
    #[arg(long, value_name = "HOST[:PORT]")]
    server: Option<String>,
    /// The name to report [default: the host name].
    #[arg(long)]
    name: Option<String>,
    /// Report every SECS until Ctrl-C instead of once.
    #[arg(long, value_name = "SECS")]
    every: Option<f64>,
    /// Attempts before giving up (waits double from 0.5 s to 4 s between them).
    #[arg(long, value_name = "N")]
    attempts: Option<u32>,
    /// Seconds to look for the server through discovery when there is no --server.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    lookup_wait: f64,
    /// Send the old DynIP client's datagram (the bare name, once per report, no acknowledgement), so an old
    /// DynIP server that still runs records this host; needs --server (or the INI file's server_hostname).
    #[arg(long)]
    legacy: bool,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Only this host.
    host: Option<String>,
    /// One JSON object per period (times in unix ms).
    #[arg(long)]
    json: bool,
    /// SQLite database [default: iplog.db in the state directory].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// The old DynIP JSON log: `{"host": ["ip", "YYYY-MM-DD HH:MM:SS.ffffff"]}`, latest address per host.
    DynipJson,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "dynip-json")]
    format: ExportFormat,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// SQLite database [default: iplog.db in the state directory].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The old server's JSON log (its `client_log_path`).
    file: PathBuf,
    /// SQLite database [default: iplog.db in the state directory].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

pub async fn run(global: &GlobalArgs, args: DynipArgs) -> anyhow::Result<ExitCode> {
    let (file, legacy) = read_config(global)?;
    match args.command {
        DynipCommand::Serve(args) => serve(global, &file, legacy, args).await,
        DynipCommand::Report(args) => report(global, &file, legacy, args).await,
        DynipCommand::History(args) => history(global, &file, args),
        DynipCommand::Export(args) => export(global, &file, args),
        DynipCommand::Import(args) => import(global, &file, args),
    }
}

/// The database: `--db`, else the `[dynip] db` key, else `iplog.db` in the state directory.
fn db_path(given: Option<PathBuf>, global: &GlobalArgs, file: &FileConfig) -> PathBuf {
    given
        .or_else(|| file.dynip.db.clone())
        .unwrap_or_else(|| super::state_dir(global, file).join(DEFAULT_DB_FILE))
}

/// `--config`: Herald's TOML, or the old DynIP INI file.
fn read_config(global: &GlobalArgs) -> anyhow::Result<(FileConfig, Option<LegacyConfig>)> {
    let Some(path) = &global.config else {
        return Ok((FileConfig::default(), None));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    if legacy::is_legacy_ini(&text) {
        let config = legacy::parse_ini(&text)
            .with_context(|| format!("DynIP config file {}", path.display()))?;
        return Ok((FileConfig::default(), Some(config)));
    }
    Ok((FileConfig::read(path)?, None))
}

fn key(global: &GlobalArgs, file: &FileConfig) -> anyhow::Result<Option<Key>> {
    global
        .key_file
        .as_ref()
        .or(file.key_file.as_ref())
        .map(|path| Key::from_file(path).context("--key-file"))
        .transpose()
}

async fn serve(
    global: &GlobalArgs,
    file: &FileConfig,
    legacy: Option<LegacyConfig>,
    args: ServeArgs,
) -> anyhow::Result<ExitCode> {
    let legacy = legacy.and_then(|l| l.server);
    let legacy_listen = legacy.as_ref().map(|l| l.listen);
    let legacy_json = legacy.and_then(|l| l.client_log_path);
    let mut config = log_config(global, file, &args, legacy_listen, legacy_json)?;
    let db = config.db.clone();
    if config.listen.is_none() {
        config.listen = IpLogConfig::new(&db).listen;
    }
    let signed = config.policy.key.is_some();
    let log = IpLog::start(config)
        .await
        .context("cannot start the IP log")?;
    let addr = log.local_addr().expect("serve always listens");
    if !args.json {
        eprintln!(
            "herald: dynip serving on {addr} ({}), database {}; Ctrl-C to stop",
            if signed {
                "signed reports only"
            } else {
                "no key: unauthenticated"
            },
            db.display()
        );
    }
    let node = if args.no_advertise || file.dynip.advertise == Some(false) {
        None
    } else {
        advertise(global, file, args.advertise_name, addr.port()).await
    };
    let mut changes = log.changes();
    let stop = stop_signal();
    tokio::pin!(stop);
    let every = Duration::from_secs_f64(args.stats_every.max(0.0));
    let mut stats_tick = tokio::time::interval(if every.is_zero() {
        Duration::from_secs(3600)
    } else {
        every
    });
    let mut printed = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            change = changes.recv() => match change {
                Ok(change) => print_change(&change, args.json),
                Err(RecvError::Lagged(missed)) => eprintln!("warning: {missed} address changes not printed (output too slow)"),
                Err(RecvError::Closed) => break,
            },
            _ = stats_tick.tick(), if !every.is_zero() => {
                let stats = log.stats();
                if printed.as_ref() != Some(&stats) {
                    print_stats(&stats, args.json);
                    printed = Some(stats);
                }
            }
        }
    }
    if let Some(node) = node {
        node.shutdown().await;
    }
    log.shutdown().await;
    print_stats(&log.stats(), args.json);
    Ok(ExitCode::SUCCESS)
}

/// The IP log's config from `serve`'s flags, then the `[dynip]` keys, then the old INI file's values, then the
/// defaults. `listen` stays `None` when none of them names an address (the caller picks).
fn log_config(
    global: &GlobalArgs,
    file: &FileConfig,
    args: &ServeArgs,
    legacy_listen: Option<SocketAddr>,
    legacy_json: Option<PathBuf>,
) -> anyhow::Result<IpLogConfig> {
    let keys = &file.dynip;
    let db = db_path(args.db.clone(), global, file);
    let mut config = IpLogConfig::new(db);
    config.listen = args.listen.or(keys.listen).or(legacy_listen);
    config.store.sync = match (args.sync, &keys.sync) {
        (Some(sync), _) => sync,
        (None, Some(text)) => text
            .parse()
            .map_err(anyhow::Error::msg)
            .context("[dynip] sync")?,
        (None, None) => SyncMode::Normal,
    };
    if let Some(max) = args.max_hosts.or(keys.max_hosts) {
        config.store.max_hosts = max;
    }
    let default_rate = RateLimit::default();
    let rate = args.rate.or(keys.rate).unwrap_or(default_rate.per_sec);
    let burst = args.burst.or(keys.burst).unwrap_or(default_rate.burst);
    config.policy.rate = (rate > 0.0).then_some(RateLimit {
        per_sec: rate,
        burst,
    });
    config.policy.key = key(global, file)?;
    if let Some(ms) = file.replay_window_ms {
        config.policy.replay_window_ms = ms;
    }
    config.policy.legacy_allow = args.legacy_allow.clone();
    for net in &keys.legacy_allow {
        config.policy.legacy_allow.push(
            net.parse().with_context(|| {
                format!("[dynip] legacy_allow: {net:?} is not a network (CIDR)")
            })?,
        );
    }
    config.legacy_json = args
        .legacy_json
        .clone()
        .or_else(|| keys.legacy_json.clone())
        .or(legacy_json);
    Ok(config)
}

/// The IP log a node runs with `herald node --dynip [ADDR:PORT] --db FILE`: the `[dynip]` keys apply as for
/// `herald dynip serve`; the address defaults to the `[dynip]` key, then `0.0.0.0:28630`.
pub(super) async fn start_for_node(
    global: &GlobalArgs,
    file: &FileConfig,
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
) -> anyhow::Result<IpLog> {
    let args = ServeArgs {
        listen,
        db,
        ..ServeArgs::default()
    };
    let mut config = log_config(global, file, &args, None, None)?;
    if config.listen.is_none() {
        config.listen = IpLogConfig::new(&config.db).listen;
    }
    IpLog::start(config)
        .await
        .context("cannot start the IP log (--dynip)")
}

/// Advertises the `dynip` service through discovery; a failure is a warning (the server still serves).
async fn advertise(
    global: &GlobalArgs,
    file: &FileConfig,
    name: Option<String>,
    port: u16,
) -> Option<Node> {
    let name = name.unwrap_or_else(|| format!("{}-dynip", crate::identity::hostname()));
    let mut config = NodeConfig::new(name);
    if let Err(err) = apply_global(&mut config, global, file) {
        eprintln!("warning: not advertising the dynip service: {err:#}");
        return None;
    }
    config.services.insert("dynip".into(), port);
    match Node::start(config).await {
        Ok(node) => Some(node),
        Err(err) => {
            eprintln!("warning: not advertising the dynip service through discovery: {err}");
            None
        }
    }
}

pub(super) fn print_change(change: &IpChange, json: bool) {
    if json {
        println!("{}", BridgeEvent::IpChanged(change.clone()).to_json());
        return;
    }
    let old = change
        .old_ip
        .map_or_else(|| "(new)".to_owned(), |ip| ip.to_string());
    println!(
        "{} {:<24} {old:>15} -> {:<15} ({:?})",
        local_time(change.at_ms),
        change.host,
        change.new_ip,
        change.source
    );
}

fn print_stats(stats: &herald_core::bridge::Stats, json: bool) {
    if json {
        println!("{}", BridgeEvent::Stats(stats.clone()).to_json());
        return;
    }
    let nonzero: Vec<String> = stats
        .counters
        .iter()
        .filter(|(_, value)| **value > 0)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    eprintln!("counters: {}", nonzero.join(" "));
}

fn local_time(ms: u64) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_millis_opt(ms as i64)
        .single()
        .map_or_else(
            || ms.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

async fn report(
    global: &GlobalArgs,
    file: &FileConfig,
    legacy: Option<LegacyConfig>,
    args: ReportArgs,
) -> anyhow::Result<ExitCode> {
    let keys = &file.dynip;
    let named = args.server.or_else(|| keys.server.clone()).or_else(|| {
        legacy
            .and_then(|l| l.client)
            .map(|c| format!("{}:{}", c.server_hostname, c.server_port))
    });
    let server = match named {
        Some(text) => resolve_server(&text).await?,
        None if args.legacy => {
            bail!("--legacy needs --server (an old DynIP server cannot be found through discovery)")
        }
        None => {
            let config = one_shot_config(global, file)?;
            let wait = Duration::from_secs_f64(args.lookup_wait.max(0.0));
            let providers = crate::services::lookup(&config, "dynip", wait)
                .await
                .context("cannot look for the dynip service")?;
            let Some(provider) = providers.first() else {
                eprintln!(
                    "herald: no dynip server found through discovery; give one with --server"
                );
                return Ok(ExitCode::FAILURE);
            };
            tracing::info!(server = %provider.addr, name = %provider.name, "dynip server found through discovery");
            provider.addr
        }
    };
    let name = args
        .name
        .or_else(|| keys.name.clone())
        .unwrap_or_else(crate::identity::hostname);
    if args.legacy {
        return report_legacy(server, &name, args.every.or(keys.every)).await;
    }
    let mut config = ReporterConfig::new(server, name);
    config.key = key(global, file)?;
    if let Some(attempts) = args.attempts.or(keys.attempts) {
        config.attempts = attempts;
    }
    let Some(every) = args.every.or(keys.every) else {
        return Ok(match reporter::report(&config).await {
            Ok(ack) => {
                tracing::info!(%server, attempts = ack.attempts, elapsed_ms = ack.elapsed.as_millis() as u64, "report acknowledged");
                ExitCode::SUCCESS
            }
            Err(err @ ReportError::Refused(_)) => {
                eprintln!("herald: {err}");
                ExitCode::from(3)
            }
            Err(err) => {
                eprintln!("herald: {err}");
                ExitCode::FAILURE
            }
        });
    };
    every_until_stopped(every, || async {
        match reporter::report(&config).await {
            Ok(ack) => tracing::info!(%server, attempts = ack.attempts, "report acknowledged"),
            Err(err) => eprintln!("herald: {err}"),
        }
    })
    .await
}

/// Runs `report` every `every` seconds (the first at once) until Ctrl-C or SIGTERM.
async fn every_until_stopped<F, Fut>(every: f64, mut report: F) -> anyhow::Result<ExitCode>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if every <= 0.0 {
        bail!("--every must be positive");
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => report().await,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `report --legacy`: the old client's datagram, once or every `every` seconds until Ctrl-C. The old server
/// sends nothing back, so "sent" is all there is to know; exit 1 if the datagram could not be sent.
async fn report_legacy(
    server: SocketAddr,
    name: &str,
    every: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let payload = herald_core::iplog::encode_legacy_hostname(name)
        .with_context(|| format!("{name:?} cannot be reported to an old DynIP server"))?;
    let local: IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = tokio::net::UdpSocket::bind((local, 0)).await?;
    let send = || async {
        match socket.send_to(&payload, server).await {
            Ok(_) => {
                tracing::info!(%server, name, "legacy DynIP datagram sent (no acknowledgement in that protocol)");
                true
            }
            Err(err) => {
                eprintln!("herald: cannot send to {server}: {err}");
                false
            }
        }
    };
    let Some(every) = every else {
        return Ok(if send().await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    };
    every_until_stopped(every, || async {
        send().await;
    })
    .await
}

/// `HOST[:PORT]`, an `IP`, `IP:PORT` or `[IPv6]:PORT`; the port defaults to 28630.
async fn resolve_server(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_DYNIP_PORT));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .with_context(|| format!("--server {text:?}: bad port"))?,
        ),
        None => (text, DEFAULT_DYNIP_PORT),
    };
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host:?}"))?
        .next()
        .with_context(|| format!("{host:?} has no address"))
}

fn history(global: &GlobalArgs, file: &FileConfig, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let db = db_path(args.db, global, file);
    let reader = open_reader(&db)?;
    let mut query = HistoryQuery {
        host: args.host.clone(),
        from_ms: None,
        to_ms: None,
        offset: 0,
        limit: crate::iplog::store::MAX_HISTORY_PAGE,
    };
    let mut rows = 0u64;
    if !args.json {
        println!(
            "{:<24} {:<15} {:<19} {:<19} {:>8}",
            "HOST", "IP", "FIRST SEEN", "LAST SEEN", "REPORTS"
        );
    }
    loop {
        let page = reader.history(&query)?;
        for period in &page.periods {
            rows += 1;
            if args.json {
                println!("{}", serde_json::to_string(period)?);
            } else {
                println!(
                    "{:<24} {:<15} {:<19} {:<19} {:>8}",
                    period.host,
                    period.ip,
                    local_time(period.first_seen_ms),
                    local_time(period.last_seen_ms),
                    period.reports
                );
            }
        }
        match page.next_offset {
            Some(next) => query.offset = next,
            None => break,
        }
    }
    if rows == 0 {
        if let Some(host) = &args.host {
            eprintln!("no history for {host:?}");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export(global: &GlobalArgs, file: &FileConfig, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let db = db_path(args.db, global, file);
    let reader = open_reader(&db)?;
    let text = match args.format {
        ExportFormat::DynipJson => legacy::render_json(&reader.latest_per_host()?),
    };
    match args.output {
        Some(path) => legacy::write_atomically(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn import(global: &GlobalArgs, file: &FileConfig, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let db = db_path(args.db, global, file);
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let (entries, skipped) = legacy::parse_json(&text)
        .with_context(|| format!("{} is not an old DynIP log", args.file.display()))?;
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = StoreOptions::default();
    if let Some(max) = file.dynip.max_hosts {
        options.max_hosts = max;
    }
    let mut store = Store::open(&db, options)?;
    let summary = import_entries(&mut store, entries, skipped, ImportMode::NewerThanHistory)?;
    println!(
        "imported {}: {} new hosts, {} extended, {} moved, {} not newer than the history, {} over the host cap, {} refused",
        args.file.display(),
        summary.new_hosts,
        summary.extended,
        summary.moved,
        summary.not_newer,
        summary.over_cap,
        summary.refused.len()
    );
    for host in &summary.refused {
        eprintln!("not imported (bad name, address or time): {host:?}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the IP log for reading; a missing one says how to make one.
fn open_reader(db: &std::path::Path) -> anyhow::Result<StoreReader> {
    match StoreReader::open(db) {
        Err(err @ crate::iplog::StoreError::Missing(_)) => {
            bail!(
                "{err} (start `herald dynip serve --db {}` first)",
                db.display()
            )
        }
        opened => Ok(opened?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_dynip_table_parses_and_typos_do_not() {
        let example = r#"
            [dynip]
            listen = "0.0.0.0:28630"
            db = "/var/lib/herald/iplog.db"
            sync = "normal"
            max_hosts = 10000
            rate = 20.0
            burst = 100
            legacy_allow = ["192.168.1.0/24"]
            legacy_json = "/var/lib/dynip/dynip.json"
            advertise = true
            server = "logger.lan:28630"
            name = "laptop-7"
            every = 300
            attempts = 5
        "#;
        let config: FileConfig = toml::from_str(example).unwrap();
        assert_eq!(config.dynip.max_hosts, Some(10_000));
        assert_eq!(config.dynip.legacy_allow, ["192.168.1.0/24"]);
        assert!(toml::from_str::<FileConfig>("[dynip]\nmax_host = 3\n").is_err());
    }

    #[tokio::test]
    async fn server_addresses_take_the_default_port() {
        assert_eq!(
            resolve_server("198.51.100.7").await.unwrap(),
            "198.51.100.7:28630".parse().unwrap()
        );
        assert_eq!(
            resolve_server("198.51.100.7:9").await.unwrap(),
            "198.51.100.7:9".parse().unwrap()
        );
        assert_eq!(
            resolve_server("[::1]:9").await.unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert_eq!(resolve_server("localhost:9").await.unwrap().port(), 9);
    }
}
