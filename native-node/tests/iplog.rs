//! The IP log's library API on loopback: a real UDP socket on 127.0.0.1:0 and SQLite in a temp directory —
//! what a node (and its bridge) will call: reports acknowledged after commit, `changes()`, `history()`,
//! `record_discovery_change`, the host cap, and shutdown.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::BTreeMap;

use herald_core::bridge::{HistoryQuery, PeerInfo, PeerState};
use herald_core::iplog::{IpChange, IpChangeSource, ReportRefusal};
use herald_core::{NodeId, PeerKind};
use herald_node::discovery::peers::{PeerChange, PeerEvent};
use herald_node::iplog::reporter::{report, ReportError, ReporterConfig};
use herald_node::iplog::{IpLog, IpLogConfig, StoreReader};
use tokio::sync::broadcast;

const PATIENCE: Duration = Duration::from_secs(10);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "herald-iplog-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &TempDir) -> IpLogConfig {
    let mut config = IpLogConfig::new(dir.0.join("iplog.db"));
    config.listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

async fn next_change(changes: &mut broadcast::Receiver<IpChange>) -> IpChange {
    tokio::time::timeout(PATIENCE, changes.recv())
        .await
        .expect("a change in time")
        .expect("the log is running")
}

fn all() -> HistoryQuery {
    HistoryQuery {
        host: None,
        from_ms: None,
        to_ms: None,
        offset: 0,
        limit: 100,
    }
}

#[tokio::test]
async fn reports_and_discovery_changes_reach_history_and_the_change_stream() {
    let dir = TempDir::new("api");
    let log = IpLog::start(config(&dir)).await.unwrap();
    let mut changes = log.changes();
    let server = log.local_addr().unwrap();

    let ack = report(&ReporterConfig::new(server, "alpha")).await.unwrap();
    assert_eq!(ack.attempts, 1);
    let change = next_change(&mut changes).await;
    assert_eq!(
        (change.host.as_str(), change.old_ip, change.source),
        ("alpha", None, IpChangeSource::Report)
    );
    // Acknowledged means committed: the history has it at once.
    let page = log.history(all()).await.unwrap();
    assert_eq!(page.periods.len(), 1);
    assert_eq!(page.periods[0].ip, IpAddr::from([127, 0, 0, 1]));

    // Discovery saw alpha somewhere else: a new period, and a change event from discovery.
    let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
    assert!(log.record_discovery_change("alpha", elsewhere, herald_node::clock::unix_ms()));
    let change = next_change(&mut changes).await;
    assert_eq!(change.source, IpChangeSource::Discovery);
    assert_eq!(change.old_ip, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!(change.new_ip, elsewhere);
    let page = log.history(all()).await.unwrap();
    assert_eq!(page.total, 2);

    log.shutdown().await;
    // After shutdown the port is closed: a report is never acknowledged.
    let mut late = ReporterConfig::new(server, "alpha");
    late.attempts = 2;
    late.first_wait = Duration::from_millis(100);
    assert!(matches!(
        report(&late).await,
        Err(ReportError::NotAcknowledged { attempts: 2, .. })
    ));
}

fn peer_event(name: &str, kind: PeerKind, ip: &str, change: PeerChange) -> PeerEvent {
    PeerEvent {
        change,
        peer: PeerInfo {
            node_id: NodeId([7; 16]),
            name: name.into(),
            kind,
            addr: ip.parse().unwrap(),
            tcp: None,
            services: BTreeMap::new(),
            topics: Vec::new(),
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            state: PeerState::Live,
        },
        at_ms: herald_node::clock::unix_ms(),
    }
}

#[tokio::test]
async fn peer_events_that_place_a_host_are_recorded_and_others_ignored() {
    let dir = TempDir::new("peers");
    let mut config = config(&dir);
    config.listen = None;
    let log = IpLog::start(config).await.unwrap();
    let mut changes = log.changes();
    let herald = PeerKind::Herald;
    assert!(log.record_peer_event(&peer_event(
        "kitchen",
        herald,
        "10.0.0.1",
        PeerChange::Joined
    )));
    let moved = PeerChange::Changed {
        old_addr: Some("10.0.0.1".parse().unwrap()),
    };
    assert!(log.record_peer_event(&peer_event("kitchen", herald, "10.0.0.2", moved)));
    let services_only = PeerChange::Changed { old_addr: None };
    assert!(!log.record_peer_event(&peer_event("kitchen", herald, "10.0.0.2", services_only)));
    assert!(!log.record_peer_event(&peer_event("kitchen", herald, "10.0.0.2", PeerChange::Lost)));
    assert!(!log.record_peer_event(&peer_event(
        "x-cli-1234",
        PeerKind::Cli,
        "10.0.0.3",
        PeerChange::Joined
    )));
    assert_eq!(next_change(&mut changes).await.old_ip, None);
    let change = next_change(&mut changes).await;
    assert_eq!(change.new_ip.to_string(), "10.0.0.2");
    assert_eq!(change.source, IpChangeSource::Discovery);
    log.shutdown().await;
    let page_hosts: Vec<String> = StoreReader::open(&dir.0.join("iplog.db"))
        .unwrap()
        .history(&all())
        .unwrap()
        .periods
        .into_iter()
        .map(|p| p.host)
        .collect();
    assert_eq!(page_hosts, ["kitchen", "kitchen"]);
}

#[tokio::test]
async fn at_the_host_cap_a_new_reporter_is_refused_and_a_known_one_acknowledged() {
    let dir = TempDir::new("cap");
    let mut config = config(&dir);
    config.store.max_hosts = 1;
    let log = IpLog::start(config).await.unwrap();
    let server = log.local_addr().unwrap();
    report(&ReporterConfig::new(server, "first")).await.unwrap();
    let refused = report(&ReporterConfig::new(server, "second")).await;
    assert!(
        matches!(refused, Err(ReportError::Refused(ReportRefusal::HostCap))),
        "{refused:?}"
    );
    report(&ReporterConfig::new(server, "first")).await.unwrap();
    assert_eq!(log.stats().counters["dynip.rejected.host_cap"], 1);
    let page = log.history(all()).await.unwrap();
    assert_eq!(page.periods.len(), 1);
    assert_eq!(page.periods[0].reports, 2);
    log.shutdown().await;
}

#[tokio::test]
async fn the_store_survives_a_restart_of_the_log() {
    let dir = TempDir::new("restart");
    let log = IpLog::start(config(&dir)).await.unwrap();
    report(&ReporterConfig::new(log.local_addr().unwrap(), "alpha"))
        .await
        .unwrap();
    log.shutdown().await;
    let log = IpLog::start(config(&dir)).await.unwrap();
    let mut changes = log.changes();
    // Same host, same address: an update of the stored period, not a change.
    report(&ReporterConfig::new(log.local_addr().unwrap(), "alpha"))
        .await
        .unwrap();
    report(&ReporterConfig::new(log.local_addr().unwrap(), "beta"))
        .await
        .unwrap();
    assert_eq!(next_change(&mut changes).await.host, "beta");
    let page = log.history(all()).await.unwrap();
    let rows: Vec<(String, u64)> = page
        .periods
        .into_iter()
        .map(|p| (p.host, p.reports))
        .collect();
    assert_eq!(rows, [("alpha".to_owned(), 2), ("beta".to_owned(), 1)]);
    log.shutdown().await;
}
