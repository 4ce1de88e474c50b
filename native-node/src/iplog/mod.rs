//! The IP log: hosts report their address over UDP (Herald's signed reports, or the old DynIP hostname
//! datagram), and every host's address history is kept in SQLite.
//!
//! [`IpLog`] is the handle a process holds (`herald dynip serve` now, a node with `--dynip` later): it opens
//! the store, starts the writer thread and, with a listen address, the UDP server; it answers history queries,
//! streams [`IpChange`]s, and takes discovery's address changes through [`IpLog::record_discovery_change`].
//!
//! # Layout
//! - [`store`]: the SQLite schema, its migrations, periods, the host cap, history queries.
//! - [`writer`]: the thread that owns the store and commits batches of sightings.
//! - [`server`]: the UDP task and its sans-IO admission [`server::Gate`] (auth, replays, names, rate).
//! - [`rate`]: per-source token buckets (sans-IO).
//! - [`replay`]: nonces of accepted signed reports (sans-IO).
//! - [`reporter`]: the client side: report, retry with backoff until acknowledged.
//! - [`legacy`]: the old DynIP INI config and JSON log.
//!
//! # Queues
//! - Sightings to the writer: [`DEFAULT_QUEUE_CAPACITY`]; when full, a datagram's sighting is dropped and
//!   counted in `dynip.rejected.busy` (a Herald reporter gets no ack and retries; a legacy client's next run
//!   reports again).
//! - Verdicts back to the server: [`VERDICT_QUEUE_CAPACITY`] batches; when full the writer waits.
//! - Changes: a broadcast of [`DEFAULT_CHANGE_CAPACITY`]; a subscriber that falls behind gets `Lagged(n)`.

pub mod legacy;
pub mod rate;
pub mod replay;
pub mod reporter;
pub mod server;
pub mod store;
pub mod writer;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_core::bridge::{HistoryPage, HistoryQuery, Stats};
use herald_core::iplog::{IpChange, IpChangeSource};
use tokio::sync::{broadcast, mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::discovery::peers::{PeerChange, PeerEvent};
use crate::stats::{bump, IpLogCounters};
use herald_core::PeerKind;
pub use server::GatePolicy;
pub use store::{Sighting, StoreError, StoreOptions, StoreReader, SyncMode};
use writer::{Job, WriterOutputs};

/// Sightings waiting for the writer (see the module doc for what happens when full).
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Batches of verdicts waiting to be sent.
pub const VERDICT_QUEUE_CAPACITY: usize = 64;
/// Address changes held for slow subscribers.
pub const DEFAULT_CHANGE_CAPACITY: usize = 1024;
/// Default wait after a commit before the legacy JSON file is rewritten (more commits in the meantime are
/// folded into the same rewrite).
pub const DEFAULT_LEGACY_JSON_DEBOUNCE: Duration = Duration::from_secs(1);
/// File name of the default database, in the state directory.
pub const DEFAULT_DB_FILE: &str = "iplog.db";

/// The default database: `iplog.db` in the state directory (`$XDG_STATE_HOME/herald`, else
/// `~/.local/state/herald`).
pub fn default_db_path() -> PathBuf {
    crate::identity::state_dir().join(DEFAULT_DB_FILE)
}

/// How an IP log is started.
#[derive(Debug, Clone)]
pub struct IpLogConfig {
    /// The SQLite file (created if missing).
    pub db: PathBuf,
    /// Durability and host cap.
    pub store: StoreOptions,
    /// UDP address to serve DynIP on; `None` to record only what [`IpLog::record_discovery_change`] feeds.
    pub listen: Option<SocketAddr>,
    /// Key, legacy allow-list, replay window and rate limit.
    pub policy: GatePolicy,
    /// The old server's `client_log_path`: a JSON file kept up to date (and imported from at start).
    pub legacy_json: Option<PathBuf>,
    /// Debounce of the legacy JSON rewrites.
    pub legacy_json_debounce: Duration,
    /// Capacity of the writer's queue.
    pub queue_capacity: usize,
    /// Capacity of the change broadcast.
    pub change_capacity: usize,
}

impl IpLogConfig {
    /// Every default: serve on `0.0.0.0:28630`, default policy (no key, rate limit on), host cap 10,000.
    pub fn new(db: impl Into<PathBuf>) -> IpLogConfig {
        IpLogConfig {
            db: db.into(),
            store: StoreOptions::default(),
            listen: Some(SocketAddr::from((
                [0, 0, 0, 0],
                herald_core::iplog::DEFAULT_DYNIP_PORT,
            ))),
            policy: GatePolicy::default(),
            legacy_json: None,
            legacy_json_debounce: DEFAULT_LEGACY_JSON_DEBOUNCE,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            change_capacity: DEFAULT_CHANGE_CAPACITY,
        }
    }
}

/// Why an IP log did not start.
#[derive(Debug, thiserror::Error)]
pub enum IpLogError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The UDP port could not be bound.
    #[error("cannot listen for DynIP reports on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The legacy JSON file exists but cannot be read.
    #[error("cannot import the legacy JSON log {path}: {message}")]
    LegacyJson {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

struct Shared {
    db: PathBuf,
    legacy_json: Option<PathBuf>,
    local_addr: Option<SocketAddr>,
    counters: Arc<IpLogCounters>,
    changes: broadcast::Sender<IpChange>,
    /// The writer's queue, for discovery's changes; taken at shutdown so the writer can finish. A `std`
    /// mutex: held only to clone or take the sender.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// A read connection for history queries, opened on first use; `std` mutex held inside `spawn_blocking`.
    reader: Arc<Mutex<Option<StoreReader>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// A running IP log. Cheap to clone; [`IpLog::shutdown`] stops it (dropping every handle without it leaves
/// the server task and the writer thread running until the runtime stops).
#[derive(Clone)]
pub struct IpLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for IpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLog")
            .field("db", &self.shared.db)
            .field("local_addr", &self.shared.local_addr)
            .finish()
    }
}

impl IpLog {
    /// Opens the store (importing the legacy JSON file's hosts it does not know yet), binds the UDP port if
    /// `config.listen` is set, and starts the writer thread and the tasks.
    pub async fn start(config: IpLogConfig) -> Result<IpLog, IpLogError> {
        let counters = Arc::new(IpLogCounters::default());
        let db = config.db.clone();
        let options = config.store;
        let import = config.legacy_json.clone();
        let store =
            tokio::task::spawn_blocking(move || open_and_import(&db, options, import.as_deref()))
                .await
                .expect("opening the store does not panic")?;
        let socket = match config.listen {
            Some(addr) => {
                Some(server::bind(addr).map_err(|source| IpLogError::Bind { addr, source })?)
            }
            None => None,
        };
        let local_addr = socket.as_ref().and_then(|s| s.local_addr().ok());
        let (jobs_tx, jobs_rx) = mpsc::channel(config.queue_capacity.max(1));
        let (changes, _) = broadcast::channel(config.change_capacity.max(1));
        let committed = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let verdicts = match socket {
            Some(socket) => {
                let (verdicts_tx, verdicts_rx) = mpsc::channel(VERDICT_QUEUE_CAPACITY);
                let gate = server::Gate::new(config.policy.clone(), counters.clone());
                tasks.spawn(server::run(
                    socket,
                    gate,
                    jobs_tx.clone(),
                    verdicts_rx,
                    shutdown.clone(),
                ));
                Some(verdicts_tx)
            }
            None => None,
        };
        let outputs = WriterOutputs {
            verdicts,
            changes: changes.clone(),
            committed: committed.clone(),
            counters: counters.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("herald-iplog-writer".into())
            .spawn(move || drop(writer::run(store, jobs_rx, outputs)))
            .expect("spawn the IP log writer thread");
        let reader = Arc::new(Mutex::new(None));
        if let Some(path) = config.legacy_json.clone() {
            tasks.spawn(keep_legacy_json(
                path,
                config.db.clone(),
                reader.clone(),
                committed,
                config.legacy_json_debounce,
                counters.clone(),
                shutdown.clone(),
            ));
        }
        tasks.close();
        if let Some(addr) = local_addr {
            tracing::info!(%addr, db = %config.db.display(), "IP log serving DynIP");
        }
        Ok(IpLog {
            shared: Arc::new(Shared {
                db: config.db,
                legacy_json: config.legacy_json,
                local_addr,
                counters,
                changes,
                jobs: Mutex::new(Some(jobs_tx)),
                reader,
                writer: Mutex::new(Some(writer)),
                shutdown,
                tasks,
            }),
        })
    }

    /// The UDP address served, if any (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local_addr
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.shared.db
    }

    /// Address changes (and new hosts) from now on, each after its commit. Bounded: a receiver that falls
    /// behind gets `Lagged(n)` and continues with the oldest change still held.
    pub fn changes(&self) -> broadcast::Receiver<IpChange> {
        self.shared.changes.subscribe()
    }

    /// Records that discovery saw `host` at `ip` (a peer joined or changed address) at `now_ms`. Goes through
    /// the same queue, host cap and store as reports; returns false if the queue was full or the log is shut
    /// down (counted in `dynip.rejected.busy`).
    pub fn record_discovery_change(&self, host: &str, ip: IpAddr, now_ms: u64) -> bool {
        self.record_sighting(host, ip, now_ms, IpChangeSource::Discovery)
    }

    fn record_sighting(&self, host: &str, ip: IpAddr, now_ms: u64, source: IpChangeSource) -> bool {
        let sender = self
            .shared
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let job = Job {
            sighting: Sighting {
                host: host.to_owned(),
                ip,
                at_us: now_ms.saturating_mul(1000),
                source,
            },
            reply_to: None,
        };
        let queued = sender.is_some_and(|sender| sender.try_send(job).is_ok());
        if !queued {
            bump(&self.shared.counters.rejected_busy);
            tracing::debug!(%host, %ip, "discovery sighting dropped: the IP log's queue is full or closed");
        }
        queued
    }

    /// Records a discovery event if it places a host at an address: a peer joined, or changed address. Other
    /// events (left, lost, a change of services) and CLI one-shots (short-lived, with generated names) are
    /// ignored. Returns true if a sighting was queued. This is all a node needs to feed discovery in:
    /// `if let NodeEvent::Peer(event) = &event { log.record_peer_event(event); }`.
    pub fn record_peer_event(&self, event: &PeerEvent) -> bool {
        let places = match event.change {
            PeerChange::Joined => true,
            PeerChange::Changed { old_addr } => old_addr.is_some_and(|old| old != event.peer.addr),
            PeerChange::Left | PeerChange::Lost => false,
        };
        if !places || event.peer.kind == PeerKind::Cli {
            return false;
        }
        match &event.peer.site {
            // A peer at another site: its gateway there saw the move; the host is `name@site`.
            Some(_) => self.record_sighting(
                &event.peer.address(),
                event.peer.addr,
                event.at_ms,
                IpChangeSource::Nats,
            ),
            None => self.record_discovery_change(&event.peer.name, event.peer.addr, event.at_ms),
        }
    }

    /// A page of history: periods matching `query` by host then first seen (the bridge's `history` command).
    pub async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let reader = self.shared.reader.clone();
        let db = self.shared.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock().unwrap_or_else(|p| p.into_inner());
            if reader.is_none() {
                *reader = Some(StoreReader::open(&db)?);
            }
            reader.as_ref().expect("opened above").history(&query)
        })
        .await
        .expect("history queries do not panic")
    }

    /// The counters (`dynip.*`).
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The counters themselves (for a node that merges them into its own stats).
    pub fn counters(&self) -> &IpLogCounters {
        &self.shared.counters
    }

    /// Stops receiving, lets the writer commit what is queued (and the server acknowledge it), rewrites the
    /// legacy JSON file one last time, and waits for all of it.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.shared.tasks.wait().await;
        let writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        if let Some(path) = &self.shared.legacy_json {
            rewrite_legacy_json(
                path,
                &self.shared.db,
                &self.shared.reader,
                &self.shared.counters,
            )
            .await;
        }
    }
}

/// Opens the store and adds the legacy JSON file's hosts it does not know (as one period each).
fn open_and_import(
    db: &Path,
    options: StoreOptions,
    legacy_json: Option<&Path>,
) -> Result<store::Store, IpLogError> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut store = store::Store::open(db, options)?;
    let Some(path) = legacy_json else {
        return Ok(store);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(store),
        Err(err) => {
            return Err(IpLogError::LegacyJson {
                path: path.to_owned(),
                message: err.to_string(),
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(store);
    }
    let (entries, skipped) = legacy::parse_json(&text).map_err(|err| IpLogError::LegacyJson {
        path: path.to_owned(),
        message: err.to_string(),
    })?;
    let summary = import_entries(&mut store, entries, skipped, ImportMode::NewHostsOnly)?;
    if summary.new_hosts > 0 {
        tracing::info!(path = %path.display(), hosts = summary.new_hosts, "imported hosts from the legacy JSON log");
    }
    if !summary.refused.is_empty() {
        tracing::warn!(path = %path.display(), hosts = ?summary.refused, "legacy JSON entries not imported (bad name, address or time)");
    }
    Ok(store)
}

/// Which entries of an old JSON file [`import_entries`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Only hosts the store does not know (a server starting with its own `client_log_path`, which it keeps
    /// up to date itself).
    NewHostsOnly,
    /// Every entry newer than what the store knows of its host (`herald dynip import`): a known host at the
    /// same address has its period extended, at another address (seen later than its latest period) moves.
    NewerThanHistory,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Hosts new to the store.
    pub new_hosts: usize,
    /// Known hosts whose current period was extended.
    pub extended: usize,
    /// Known hosts recorded at a new address.
    pub moved: usize,
    /// Entries not newer than the store's history of their host (or, with [`ImportMode::NewHostsOnly`], of a
    /// known host).
    pub not_newer: usize,
    /// Hosts refused for the host cap.
    pub over_cap: usize,
    /// Entries not imported because their name, address or time is not acceptable (their keys).
    pub refused: Vec<String>,
}

/// Records an old JSON file's `entries` (in file order; `skipped` are keys already found unreadable) as
/// legacy reports, in one transaction. Names are checked as a legacy datagram's would be: the old server
/// stored names verbatim, Herald keeps only names it would accept today.
pub fn import_entries(
    store: &mut store::Store,
    entries: Vec<legacy::LegacyEntry>,
    skipped: Vec<String>,
    mode: ImportMode,
) -> Result<ImportSummary, StoreError> {
    let mut summary = ImportSummary {
        refused: skipped,
        ..ImportSummary::default()
    };
    let latest: std::collections::HashMap<String, store::LatestPeriod> = match mode {
        ImportMode::NewHostsOnly => Default::default(),
        ImportMode::NewerThanHistory => store
            .latest_per_host()?
            .into_iter()
            .map(|latest| (latest.period.host.clone(), latest))
            .collect(),
    };
    let mut sightings = Vec::new();
    for entry in entries {
        match herald_core::iplog::legacy_hostname(entry.host.as_bytes()) {
            Ok(name) if name == entry.host => {}
            _ => {
                summary.refused.push(entry.host);
                continue;
            }
        }
        if store.knows(&entry.host) {
            let newer = latest.get(&entry.host).is_some_and(|latest| {
                latest.period.ip == entry.ip || entry.at_us > latest.last_seen_us
            });
            if !newer {
                summary.not_newer += 1;
                continue;
            }
        }
        sightings.push(Sighting {
            host: entry.host,
            ip: entry.ip,
            at_us: entry.at_us,
            source: IpChangeSource::LegacyReport,
        });
    }
    if sightings.is_empty() {
        return Ok(summary);
    }
    for recorded in store.record(&sightings)? {
        match recorded {
            store::Recorded::Updated => summary.extended += 1,
            store::Recorded::RefusedHostCap => summary.over_cap += 1,
            store::Recorded::Changed(change) if change.old_ip.is_some() => summary.moved += 1,
            store::Recorded::Changed(_) => summary.new_hosts += 1,
        }
    }
    Ok(summary)
}

/// Rewrites the legacy JSON file after commits, at most once per `debounce` (the last rewrite is
/// [`IpLog::shutdown`]'s, once the writer is done).
async fn keep_legacy_json(
    path: PathBuf,
    db: PathBuf,
    reader: Arc<Mutex<Option<StoreReader>>>,
    committed: Arc<Notify>,
    debounce: Duration,
    counters: Arc<IpLogCounters>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = committed.notified() => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(debounce) => {}
        }
        rewrite_legacy_json(&path, &db, &reader, &counters).await;
    }
}

async fn rewrite_legacy_json(
    path: &Path,
    db: &Path,
    reader: &Arc<Mutex<Option<StoreReader>>>,
    counters: &Arc<IpLogCounters>,
) {
    let (path, db, reader) = (path.to_owned(), db.to_owned(), reader.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut reader = reader.lock().unwrap_or_else(|p| p.into_inner());
        if reader.is_none() {
            *reader = Some(StoreReader::open(&db).map_err(|e| e.to_string())?);
        }
        let latest = reader
            .as_ref()
            .expect("opened above")
            .latest_per_host()
            .map_err(|e| e.to_string())?;
        legacy::write_atomically(&path, legacy::render_json(&latest).as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match result {
        Ok(()) => bump(&counters.legacy_json_writes),
        Err(err) => {
            bump(&counters.legacy_json_errors);
            tracing::error!(%err, "cannot rewrite the legacy JSON log");
        }
    }
}
