//! The IP log benchmark: an [`IpLog`] on 127.0.0.1 with its SQLite file in a temp directory, and H reporting
//! hosts, each a UDP socket bound to its own 127.x.y.z address, each sending its next report as soon as the
//! previous one is acknowledged (that is, committed: durable storage is part of every figure).
//!
//! Then the flood: distinct fake host names (1,000,000 by default) sent the same way, to show memory staying
//! flat: beyond the host cap new names are refused, and nothing grows with the number of names seen.

use super::proc_status_kib;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::iplog::{classify_report_datagram, IpLogMessage, IpReport, ReportDatagram};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::auth::Key;
use crate::iplog::server::seal;
use crate::iplog::{IpLog, IpLogConfig, SyncMode};

/// Wait for a reply before the report is sent again.
const RESEND_AFTER: Duration = Duration::from_secs(1);

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct IpLogFigures {
    /// Always `"iplog"`.
    pub bench: &'static str,
    /// Reports acknowledged in the main run.
    pub reports: u64,
    /// Reporting hosts (distinct source addresses and names).
    pub hosts: usize,
    /// `normal` or `full`.
    pub sync: &'static str,
    /// Reports signed with a key (HMAC on both sides).
    pub signed: bool,
    /// Wall time of the main run.
    pub seconds: f64,
    /// Reports acknowledged (so committed) per second.
    pub reports_per_s: f64,
    /// Transactions committed in the main run (reports per commit = `reports / commits`).
    pub commits: u64,
    /// Reports sent again after no reply within 1 s.
    pub resent: u64,
    /// Peak resident memory of the whole process (server and clients) after the main run (VmHWM, KiB).
    pub peak_rss_kib: u64,
    /// The flood, if one was run.
    pub flood: Option<FloodFigures>,
}

/// Figures of the flood of distinct names.
#[derive(Debug, Clone, Serialize)]
pub struct FloodFigures {
    /// Distinct fake host names sent (each once).
    pub names: u64,
    /// Wall time.
    pub seconds: f64,
    /// Replies per second.
    pub replies_per_s: f64,
    /// Names stored (until the host cap).
    pub stored: u64,
    /// Names refused at the host cap.
    pub refused_host_cap: u64,
    /// The host cap.
    pub max_hosts: usize,
    /// Resident memory once a tenth of the flood was answered (VmRSS, KiB).
    pub rss_kib_at_10_percent: u64,
    /// Resident memory at the end of the flood (VmRSS, KiB).
    pub rss_kib_at_end: u64,
    /// Peak resident memory of the process at the end (VmHWM, KiB).
    pub peak_rss_kib: u64,
}

/// Runs the benchmark: `reports` reports from `hosts` hosts, then (if `flood` > 0) `flood` distinct names.
pub async fn run(
    reports: u64,
    hosts: usize,
    flood: u64,
    sync: SyncMode,
    signed: bool,
) -> anyhow::Result<IpLogFigures> {
    anyhow::ensure!(hosts >= 1, "at least one host");
    let dir = BenchDir::create()?;
    let key = signed.then(|| Key::from_bytes(vec![0x42; 32]));
    let mut config = IpLogConfig::new(dir.0.join("iplog.db"));
    config.listen = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    config.store.sync = sync;
    config.policy.rate = None;
    config.policy.key = key.clone();
    let max_hosts = config.store.max_hosts;
    let log = IpLog::start(config).await?;
    let server = log.local_addr().expect("listening");

    let mut sockets = Vec::with_capacity(hosts);
    for i in 0..hosts {
        let socket = UdpSocket::bind((host_ip(i), 0)).await?;
        socket.connect(server).await?;
        sockets.push(Arc::new(socket));
    }

    let totals = Arc::new(Totals::default());
    let budget = Arc::new(AtomicI64::new(reports as i64));
    let commits_before = log.stats().counters["dynip.commits"];
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, socket) in sockets.iter().enumerate() {
        let name = format!("bench-host-{i}");
        tasks.spawn(report_loop(
            socket.clone(),
            move |_| name.clone(),
            budget.clone(),
            totals.clone(),
            key.clone(),
        ));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let acked = totals.acked.load(Ordering::Relaxed);
    let commits = log.stats().counters["dynip.commits"] - commits_before;
    let peak_rss_kib = proc_status_kib("VmHWM").unwrap_or(0);

    let flood = if flood > 0 {
        Some(run_flood(&log, &sockets, flood, max_hosts, key.clone()).await?)
    } else {
        None
    };
    log.shutdown().await;
    Ok(IpLogFigures {
        bench: "iplog",
        reports: acked,
        hosts,
        sync: match sync {
            SyncMode::Normal => "normal",
            SyncMode::Full => "full",
        },
        signed,
        seconds,
        reports_per_s: acked as f64 / seconds,
        commits,
        resent: totals.resent.load(Ordering::Relaxed),
        peak_rss_kib,
        flood,
    })
}

async fn run_flood(
    log: &IpLog,
    sockets: &[Arc<UdpSocket>],
    names: u64,
    max_hosts: usize,
    key: Option<Key>,
) -> anyhow::Result<FloodFigures> {
    let stored_before = log.stats().counters["dynip.changes"];
    let totals = Arc::new(Totals::default());
    let budget = Arc::new(AtomicI64::new(names as i64));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for socket in sockets {
        tasks.spawn(report_loop(
            socket.clone(),
            |seq| format!("flood-{seq:08}"),
            budget.clone(),
            totals.clone(),
            key.clone(),
        ));
    }
    // Sample memory once a tenth of the flood is answered.
    let tenth = names / 10;
    let mut rss_at_10 = None;
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(done) => done??,
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(20)), if rss_at_10.is_none() => {
                if totals.replies() >= tenth {
                    rss_at_10 = proc_status_kib("VmRSS");
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let counters = log.stats().counters;
    Ok(FloodFigures {
        names,
        seconds,
        replies_per_s: totals.replies() as f64 / seconds,
        stored: counters["dynip.changes"] - stored_before,
        refused_host_cap: totals.refused.load(Ordering::Relaxed),
        max_hosts,
        rss_kib_at_10_percent: rss_at_10.unwrap_or(0),
        rss_kib_at_end: proc_status_kib("VmRSS").unwrap_or(0),
        peak_rss_kib: proc_status_kib("VmHWM").unwrap_or(0),
    })
}

/// The benchmark's temp directory, removed on drop.
struct BenchDir(std::path::PathBuf);

impl BenchDir {
    fn create() -> std::io::Result<BenchDir> {
        let path = std::env::temp_dir().join(format!("herald-bench-iplog-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(BenchDir(path))
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Default)]
struct Totals {
    acked: AtomicU64,
    refused: AtomicU64,
    resent: AtomicU64,
}

impl Totals {
    fn replies(&self) -> u64 {
        self.acked.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed)
    }
}

/// One host: takes a report from the budget, sends it until a reply comes, and again.
async fn report_loop(
    socket: Arc<UdpSocket>,
    name: impl Fn(i64) -> String,
    budget: Arc<AtomicI64>,
    totals: Arc<Totals>,
    key: Option<Key>,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 2048];
    loop {
        let seq = budget.fetch_sub(1, Ordering::Relaxed);
        if seq <= 0 {
            return Ok(());
        }
        let nonce: u64 = rand::random();
        let now_ms = crate::clock::unix_ms();
        let bytes = seal(
            &IpLogMessage::Report(IpReport {
                name: name(seq),
                timestamp_ms: now_ms,
                nonce,
            }),
            key.as_ref(),
            now_ms,
        )?;
        'send: loop {
            socket.send(&bytes).await?;
            loop {
                let len = match tokio::time::timeout(RESEND_AFTER, socket.recv(&mut buf)).await {
                    Err(_) => {
                        totals.resent.fetch_add(1, Ordering::Relaxed);
                        continue 'send;
                    }
                    Ok(received) => received?,
                };
                let Ok(ReportDatagram::Herald(reply)) = classify_report_datagram(&buf[..len])
                else {
                    continue;
                };
                match reply.message {
                    IpLogMessage::Ack { nonce: n } if n == nonce => {
                        totals.acked.fetch_add(1, Ordering::Relaxed);
                        break 'send;
                    }
                    IpLogMessage::Refused { nonce: n, .. } if n == nonce => {
                        totals.refused.fetch_add(1, Ordering::Relaxed);
                        break 'send;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The source address standing for host `i`: 127.1.0.1, 127.1.0.2, … (all of 127/8 is loopback on Linux).
fn host_ip(i: usize) -> IpAddr {
    let n = i as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(
        127,
        1 + (n >> 16) as u8,
        (n >> 8) as u8,
        n as u8,
    ))
}
