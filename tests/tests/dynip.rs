//! The IP log across hosts: `herald dynip serve` on host 1 of a network-namespace LAN (198.51.100.0/24, the
//! fixed DynIP port 28630), reporters and independent Python senders on the other hosts, and the SQLite file
//! read back with `herald dynip history`. Needs root; CI runs it inside its own namespace.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use herald_core::bridge::BridgeEvent;
use herald_core::iplog::{
    classify_report_datagram, encode_report_datagram, IpChangeSource, IpLogMessage, IpPeriod,
    IpReport, ReportDatagram, ReportRefusal,
};
use herald_node::auth::Key;
use herald_tests::{binary, Lan, Running, TempDir, PATIENCE};

const SERVER: usize = 1;

fn server_ip() -> String {
    Lan::ip(SERVER)
}

/// `herald dynip serve` on host 1 with the database `db`, printing changes and counters; waits until it runs.
fn serve(lan: &Lan, db: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "dynip",
        "serve",
        "--db",
        db,
        "--json",
        "--stats-every",
        "0.2",
        "--interface",
        "eth0",
    ];
    args.extend_from_slice(extra);
    let server = lan.spawn(SERVER, &args);
    // The first counters line comes once the log, the socket and the advertisement are up.
    server.wait_for("the server's first counters", |e| {
        matches!(e, BridgeEvent::Stats(_))
    });
    server
}

fn report(lan: &Lan, host: usize, args: &[&str]) -> Output {
    let mut full = vec!["dynip", "report"];
    full.extend_from_slice(args);
    lan.run(host, &full)
}

/// `herald dynip report --name NAME` on host `i` without `--server`: it finds the server through discovery
/// (the `dynip` service).
fn report_through_discovery(lan: &Lan, i: usize, name: &str) -> Output {
    report(
        lan,
        i,
        &["--name", name, "--interface", "eth0", "--lookup-wait", "3"],
    )
}

fn assert_acknowledged(output: &Output) {
    assert!(
        output.status.success(),
        "report not acknowledged ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn changed<'a>(host: &'a str, ip: &'a str) -> impl Fn(&BridgeEvent) -> bool + 'a {
    move |e| matches!(e, BridgeEvent::IpChanged(c) if c.host == host && c.new_ip.to_string() == ip)
}

/// Waits for a counters line where `counter` is at least `at_least`.
fn wait_counter(server: &Running, counter: &str, at_least: u64) -> BTreeMap<String, u64> {
    let event = server.wait_for(&format!("{counter} >= {at_least}"), |e| {
        matches!(e, BridgeEvent::Stats(s) if s.counters.get(counter).copied().unwrap_or(0) >= at_least)
    });
    let BridgeEvent::Stats(stats) = event else {
        unreachable!()
    };
    stats.counters
}

/// `herald dynip history --json` on the database (from the test's own namespace: it is only a file).
fn history(db: &str, host: Option<&str>) -> Vec<IpPeriod> {
    let mut command = std::process::Command::new(binary("herald"));
    command.args(["dynip", "history", "--json", "--db", db]);
    if let Some(host) = host {
        command.arg(host);
    }
    let output = command.output().expect("run herald dynip history");
    assert!(
        output.status.success(),
        "history failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a period per line"))
        .collect()
}

/// Python, standing in for anything that is not Herald: sends one datagram (hex) to the server's DynIP port
/// and prints the reply in hex (or nothing after the timeout in seconds).
const SEND_ONE: &str = "\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 28630))
try:
    print(s.recv(2048).hex())
except socket.timeout:
    pass
";

fn send_one(lan: &Lan, host: usize, datagram: &[u8], timeout_secs: u32) -> Option<IpLogMessage> {
    let hex: String = datagram.iter().map(|b| format!("{b:02x}")).collect();
    let timeout = timeout_secs.to_string();
    let output = lan
        .command_in(
            host,
            "python3",
            &["-c", SEND_ONE, &hex, &server_ip(), &timeout],
        )
        .output()
        .expect("run python3");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let bytes = decode_hex(text.trim());
    if bytes.is_empty() {
        return None;
    }
    match classify_report_datagram(&bytes).expect("a Herald reply") {
        ReportDatagram::Herald(datagram) => Some(datagram.message),
        other => panic!("not a reply: {other:?}"),
    }
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn signed_report(key: &Key, name: &str, nonce: u64) -> Vec<u8> {
    let now = unix_ms();
    herald_node::iplog::server::seal(
        &IpLogMessage::Report(IpReport {
            name: name.into(),
            timestamp_ms: now,
            nonce,
        }),
        Some(key),
        now,
    )
    .unwrap()
}

#[test]
fn a_host_that_moves_has_both_periods_in_its_history() {
    let lan = Lan::new(2);
    let dir = TempDir::new("moves");
    let db = dir.join("iplog.db");
    let server = serve(&lan, &db, &[]);
    // No --server: the reporter finds the server through discovery (the `dynip` service).
    let first = report_through_discovery(&lan, 2, "roamer");
    assert_acknowledged(&first);
    server.wait_for(
        "roamer at its first address",
        changed("roamer", &Lan::ip(2)),
    );
    lan.readdress(2, "198.51.100.42");
    let second = report(&lan, 2, &["--name", "roamer", "--server", &server_ip()]);
    assert_acknowledged(&second);
    let event = server.wait_for(
        "roamer at its new address",
        changed("roamer", "198.51.100.42"),
    );
    let BridgeEvent::IpChanged(change) = event else {
        unreachable!()
    };
    assert_eq!(change.old_ip.map(|ip| ip.to_string()), Some(Lan::ip(2)));
    assert_eq!(change.source, IpChangeSource::Report);
    let periods = history(&db, Some("roamer"));
    let ips: Vec<String> = periods.iter().map(|p| p.ip.to_string()).collect();
    assert_eq!(ips, [Lan::ip(2), "198.51.100.42".to_owned()]);
    assert!(periods[0].last_seen_ms <= periods[1].first_seen_ms);
    assert!(periods.iter().all(|p| p.reports == 1));
}

#[test]
fn a_node_with_dynip_records_discovery_moves_and_reports_and_is_found_by_reporters() {
    let lan = Lan::new(3);
    let dir = TempDir::new("node");
    let db = dir.join("iplog.db");
    let logger = lan.spawn(
        SERVER,
        &[
            "node",
            "--name",
            "logger",
            "--interface",
            "eth0",
            "--dynip",
            "--db",
            &db,
            "--json",
        ],
    );
    let wanderer = lan.spawn(
        2,
        &[
            "node",
            "--name",
            "wanderer",
            "--interface",
            "eth0",
            "--json",
        ],
    );
    let event = logger.wait_for(
        "wanderer seen by discovery",
        changed("wanderer", &Lan::ip(2)),
    );
    let BridgeEvent::IpChanged(change) = event else {
        unreachable!()
    };
    assert_eq!(change.source, IpChangeSource::Discovery);
    assert_eq!(change.old_ip, None);
    // The reporter finds the node's DynIP server through discovery (the `dynip` service the node advertises).
    let output = report_through_discovery(&lan, 3, "roamer");
    assert_acknowledged(&output);
    let event = logger.wait_for("roamer's report", changed("roamer", &Lan::ip(3)));
    let BridgeEvent::IpChanged(change) = event else {
        unreachable!()
    };
    assert_eq!(change.source, IpChangeSource::Report);
    // A DHCP-style move of the wanderer: discovery sees the new address, the log records a second period.
    lan.readdress(2, "198.51.100.43");
    let event = logger.wait_for("wanderer's move", changed("wanderer", "198.51.100.43"));
    let BridgeEvent::IpChanged(change) = event else {
        unreachable!()
    };
    assert_eq!(change.old_ip.map(|ip| ip.to_string()), Some(Lan::ip(2)));
    assert_eq!(change.source, IpChangeSource::Discovery);
    drop(wanderer);
    drop(logger);
    let ips: Vec<String> = history(&db, Some("wanderer"))
        .iter()
        .map(|p| p.ip.to_string())
        .collect();
    assert_eq!(ips, [Lan::ip(2), "198.51.100.43".to_owned()]);
    assert_eq!(history(&db, Some("roamer")).len(), 1);
}

#[test]
fn a_legacy_datagram_from_python_is_recorded_with_the_old_ini_config() {
    let lan = Lan::new(2);
    let dir = TempDir::new("legacy");
    let db = dir.join("iplog.db");
    let json = dir.join("dynip.json");
    let ini = dir.join("dynip.conf");
    // What the old `dynip-init` wrote; the server reads it unchanged.
    std::fs::write(
        &ini,
        format!(
            "[DynIP:Server]\nserver_ip = *\nserver_port = 28630\nclient_log_path = {json}\n\n\
             [DynIP:Client]\nserver_hostname = localhost\nserver_port = 28630\n"
        ),
    )
    .unwrap();
    let server = serve(&lan, &db, &["--config", &ini]);
    // Exactly what the old client did: one datagram whose payload is the host name, nothing else.
    let old_client = "import socket, sys\n\
                      s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                      s.sendto(sys.argv[1].encode(), (sys.argv[2], 28630))\n";
    let status = lan
        .command_in(2, "python3", &["-c", old_client, "old-box", &server_ip()])
        .status()
        .expect("run python3");
    assert!(status.success());
    let event = server.wait_for("old-box recorded", changed("old-box", &Lan::ip(2)));
    assert!(matches!(event, BridgeEvent::IpChanged(c) if c.source == IpChangeSource::LegacyReport));
    assert_eq!(history(&db, Some("old-box")).len(), 1);
    // The old JSON file is kept up to date (debounced), in the old format.
    let deadline = Instant::now() + PATIENCE;
    let expected = format!("{{\"old-box\": [\"{}\", \"", Lan::ip(2));
    loop {
        let text = std::fs::read_to_string(&json).unwrap_or_default();
        if text.starts_with(&expected) && text.ends_with("\"]}") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dynip.json not updated: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn signed_reports_are_accepted_and_tampered_or_replayed_ones_refused() {
    let lan = Lan::new(2);
    let dir = TempDir::new("signed");
    let db = dir.join("iplog.db");
    let key_path = dir.join("key");
    let secret: Vec<u8> = (0..32u8).collect();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&key_path, format!("{hex}\n")).unwrap();
    // Readable by its owner only: a key file others may read is refused.
    let owner_only = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&key_path, owner_only).unwrap();
    let key = Key::from_bytes(secret);
    let server = serve(&lan, &db, &["--key-file", &key_path]);

    let signed = report(
        &lan,
        2,
        &[
            "--name",
            "trusted",
            "--server",
            &server_ip(),
            "--key-file",
            &key_path,
        ],
    );
    assert_acknowledged(&signed);
    server.wait_for("trusted recorded", changed("trusted", &Lan::ip(2)));

    let unsigned = report(&lan, 2, &["--name", "intruder", "--server", &server_ip()]);
    assert_eq!(unsigned.status.code(), Some(3), "unsigned: refused");

    // One signed datagram, sent twice by an independent sender: accepted, then refused as a replay.
    let datagram = signed_report(&key, "replayed", 0x5eed);
    assert_eq!(
        send_one(&lan, 2, &datagram, 10),
        Some(IpLogMessage::Ack { nonce: 0x5eed })
    );
    assert_eq!(
        send_one(&lan, 2, &datagram, 10),
        Some(IpLogMessage::Refused {
            nonce: 0x5eed,
            reason: ReportRefusal::Auth
        })
    );
    // Tampered: the name changed after signing (same length, so it still decodes).
    let mut tampered = signed_report(&key, "tampered", 0x7a3e);
    let at = tampered
        .windows(8)
        .position(|w| w == b"tampered")
        .expect("the name is in the datagram");
    tampered[at..at + 8].copy_from_slice(b"tampere!");
    assert_eq!(
        send_one(&lan, 2, &tampered, 10),
        Some(IpLogMessage::Refused {
            nonce: 0x7a3e,
            reason: ReportRefusal::Auth
        })
    );
    // A legacy datagram with a key and no allow-list: dropped without a reply (and counted, below).
    assert_eq!(send_one(&lan, 2, b"legacy-box", 2), None);

    // The reporter without a key and the legacy datagram; the legacy one was last, so all are counted by now.
    let counters = wait_counter(&server, "dynip.rejected.unsigned", 2);
    assert_eq!(counters["dynip.rejected.replay"], 1, "{counters:?}");
    assert_eq!(counters["dynip.rejected.bad_tag"], 1, "{counters:?}");
    let hosts: Vec<String> = history(&db, None).into_iter().map(|p| p.host).collect();
    assert_eq!(hosts, ["replayed", "trusted"], "nothing refused was stored");
}

/// Python sender for the burst: sends the datagrams (one hex per line in a file) with a window of 32 in
/// flight, one more per reply, and writes every reply (hex) to a file, line by line (a file, not a pipe, so the
/// sender never waits for the test); stops 3 s after the last reply.
const BURST: &str = "\
import socket, sys
data = [bytes.fromhex(line) for line in open(sys.argv[1])]
out = open(sys.argv[3], 'w', buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[2], 28630))
sent = 0
def send_next():
    global sent
    if sent < len(data):
        try:
            s.send(data[sent])
        except OSError:
            pass
        sent += 1
for _ in range(32):
    send_next()
while True:
    try:
        reply = s.recv(2048)
    except socket.timeout:
        break
    except OSError:
        continue
    out.write(reply.hex() + '\\n')
    send_next()
";

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_report_and_a_restart_keeps_history() {
    kill_9_during_a_burst("normal");
}

/// The same with `--sync full` (every commit waits for the disk, so reports queue up behind it). Both fail
/// if an acknowledgement goes out before its commit (checked by hand: acking on receipt fails them).
#[test]
fn kill_9_during_a_burst_with_sync_full() {
    kill_9_during_a_burst("full");
}

fn kill_9_during_a_burst(sync: &str) {
    let lan = Lan::new(2);
    let dir = TempDir::new("kill");
    let db = dir.join("iplog.db");
    let mut server = serve(&lan, &db, &["--rate", "0", "--sync", sync]);
    const NAMES: u64 = 50;
    const REPORTS: u64 = 30_000;
    let burst_file = dir.join("burst.hex");
    let mut lines = String::new();
    for nonce in 0..REPORTS {
        let bytes = encode_report_datagram(
            &IpLogMessage::Report(IpReport {
                name: format!("burst-{}", nonce % NAMES),
                timestamp_ms: 0,
                nonce,
            }),
            None,
        )
        .unwrap();
        lines.extend(bytes.iter().map(|b| format!("{b:02x}")));
        lines.push('\n');
    }
    std::fs::write(&burst_file, lines).unwrap();
    let replies_file = dir.join("replies.hex");
    let mut sender = lan
        .command_in(
            2,
            "python3",
            &["-c", BURST, &burst_file, &server_ip(), &replies_file],
        )
        .spawn()
        .expect("run python3");
    // Kill -9 once 2,000 replies are in, while the sender keeps going.
    let deadline = Instant::now() + PATIENCE;
    let replies =
        || std::fs::read(&replies_file).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    while replies() < 2_000 {
        assert!(
            Instant::now() < deadline,
            "the burst was not acknowledged in time"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill();
    assert!(sender.wait().unwrap().success());
    let mut acked = vec![0u64; NAMES as usize];
    let mut total = 0u64;
    for line in std::fs::read_to_string(&replies_file).unwrap().lines() {
        let bytes = decode_hex(line.trim());
        if let Ok(ReportDatagram::Herald(reply)) = classify_report_datagram(&bytes) {
            if let IpLogMessage::Ack { nonce } = reply.message {
                acked[(nonce % NAMES) as usize] += 1;
                total += 1;
            }
        }
    }
    assert!(total >= 2_000, "{total} acknowledged");
    assert!(
        total < REPORTS,
        "the kill came during the burst ({total} acknowledged)"
    );

    // Every acknowledged report is in the file, read as it was left by the kill.
    let stored = |periods: &[IpPeriod]| {
        let mut per_name = vec![0u64; NAMES as usize];
        for period in periods {
            let i: usize = period.host["burst-".len()..].parse().unwrap();
            per_name[i] += period.reports;
        }
        per_name
    };
    let after_kill = stored(&history(&db, None));
    for (i, (stored, acked)) in after_kill.iter().zip(&acked).enumerate() {
        assert!(
            stored >= acked,
            "burst-{i}: {acked} acknowledged, {stored} stored"
        );
    }

    // A restarted server keeps the history and goes on counting.
    let server = serve(&lan, &db, &[]);
    let again = report(&lan, 2, &["--name", "burst-0", "--server", &server_ip()]);
    assert_acknowledged(&again);
    wait_counter(&server, "dynip.acks_sent", 1);
    let after_restart = stored(&history(&db, None));
    // At least one more (a retry whose first attempt was stored too counts twice).
    assert!(
        after_restart[0] > after_kill[0],
        "burst-0: {} before the restart, {} after",
        after_kill[0],
        after_restart[0]
    );
    assert_eq!(after_restart[1..], after_kill[1..]);
}

/// Python sender of garbage: empty, NUL-first junk, a bad Herald version, control characters, invalid UTF-8,
/// oversized.
const GARBAGE: &str = "\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for payload in [b'', b'\\0junk', b'\\0HIP\\x09\\x00', b'bad\\x07name', b'\\xff\\xfe', b'x' * 1400, b'\\r\\n']:
    s.sendto(payload, (sys.argv[1], 28630))
";

#[test]
fn garbage_is_counted_and_the_server_stays_up() {
    let lan = Lan::new(2);
    let dir = TempDir::new("garbage");
    let db = dir.join("iplog.db");
    let server = serve(&lan, &db, &[]);
    let status = lan
        .command_in(2, "python3", &["-c", GARBAGE, &server_ip()])
        .status()
        .expect("run python3");
    assert!(status.success());
    let counters = wait_counter(&server, "dynip.rejected.bad_name", 5);
    assert_eq!(counters["dynip.rejected.malformed"], 2, "{counters:?}");
    let after = report(&lan, 2, &["--name", "still-up", "--server", &server_ip()]);
    assert_acknowledged(&after);
    assert_eq!(
        history(&db, None)
            .into_iter()
            .map(|p| p.host)
            .collect::<Vec<_>>(),
        ["still-up"]
    );
}

/// Starts a patient reporter on host 2 while the store cannot commit, waits until the server has counted a
/// failed commit, calls `repair`, and checks that the reporter's retry is acknowledged and stored.
fn retries_land_after_a_storage_failure(
    lan: &Lan,
    server: &Running,
    db: &str,
    repair: impl FnOnce(),
) {
    let herald = binary("herald");
    let mut reporter = lan
        .command_in(
            2,
            herald.to_str().unwrap(),
            &[
                "dynip",
                "report",
                "--name",
                "patient",
                "--server",
                &server_ip(),
                "--attempts",
                "8",
            ],
        )
        .spawn()
        .expect("run herald");
    wait_counter(server, "dynip.store_errors", 1);
    repair();
    assert!(
        reporter.wait().unwrap().success(),
        "acknowledged once the store could commit again"
    );
    server.wait_for("patient recorded", changed("patient", &Lan::ip(2)));
    assert_eq!(history(db, Some("patient")).len(), 1);
}

#[test]
fn a_locked_database_is_an_error_the_server_survives_and_reporters_retry() {
    let lan = Lan::new(2);
    let dir = TempDir::new("locked");
    let db = dir.join("iplog.db");
    let server = serve(&lan, &db, &[]);
    // Another process takes the write lock.
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    retries_land_after_a_storage_failure(&lan, &server, &db, || {
        locker.execute_batch("ROLLBACK").unwrap();
    });
}

#[test]
fn history_and_export_say_clearly_when_there_is_no_log() {
    let dir = TempDir::new("missing");
    let db = dir.join("nothing.db");
    for command in ["history", "export"] {
        // Where `RUST_BACKTRACE=1` is set, the error is still its one line, without a backtrace.
        let output = std::process::Command::new(binary("herald"))
            .args(["dynip", command, "--db", &db])
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LIB_BACKTRACE")
            .output()
            .expect("run herald");
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no IP log in"), "{command}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        // -v asks for the backtrace too.
        let verbose = std::process::Command::new(binary("herald"))
            .args(["-v", "dynip", command, "--db", &db])
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run herald");
        let stderr = String::from_utf8_lossy(&verbose.stderr);
        assert!(stderr.contains("backtrace"), "{command} -v: {stderr}");
    }
    assert!(
        !std::path::Path::new(&db).exists(),
        "readers never create a log"
    );
}

/// A small tmpfs mounted for one test, unmounted on drop.
struct SmallDisk(TempDir);

impl SmallDisk {
    fn new(name: &str, size: &str) -> SmallDisk {
        let dir = TempDir::new(name);
        herald_tests::sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                &dir.join(""),
            ],
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_an_error_the_server_survives_and_reporters_retry() {
    let lan = Lan::new(2);
    let disk = SmallDisk::new("full", "1m");
    let db = disk.0.join("iplog.db");
    let server = serve(&lan, &db, &[]);
    // Fill what is left of the disk.
    let filler = disk.0.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={filler}"), "bs=4k"])
        .stderr(std::process::Stdio::null())
        .status();
    retries_land_after_a_storage_failure(&lan, &server, &db, || {
        std::fs::remove_file(&filler).unwrap();
    });
}

/// A database written by a Herald of the first schema (times in milliseconds) is upgraded when opened: its
/// history reads as before, the export shows its times (whole milliseconds), and a server goes on with it.
#[test]
fn a_database_of_the_first_schema_is_upgraded_and_keeps_its_history() {
    let dir = TempDir::new("schema-1");
    let db = dir.join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE periods (
                id            INTEGER PRIMARY KEY,
                host          TEXT    NOT NULL,
                ip            TEXT    NOT NULL,
                first_seen_ms INTEGER NOT NULL,
                last_seen_ms  INTEGER NOT NULL,
                reports       INTEGER NOT NULL
            );
            CREATE INDEX periods_by_host ON periods (host, first_seen_ms);
            INSERT INTO periods (host, ip, first_seen_ms, last_seen_ms, reports) VALUES
                ('zulu', '198.51.100.7', 1764000000000, 1764000000123, 2),
                ('alpha', '198.51.100.8', 1764000001000, 1764000001000, 1);
            PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let periods = history(&db, None);
    let summary: Vec<_> = periods
        .iter()
        .map(|p| (p.host.as_str(), p.first_seen_ms, p.last_seen_ms, p.reports))
        .collect();
    assert_eq!(
        summary,
        [
            ("alpha", 1_764_000_001_000, 1_764_000_001_000, 1),
            ("zulu", 1_764_000_000_000, 1_764_000_000_123, 2)
        ]
    );
    let output = std::process::Command::new(binary("herald"))
        .args(["dynip", "export", "--db", &db])
        .output()
        .expect("run herald");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(r#"{"zulu": ["198.51.100.7", ""#)
            && text.contains(r#".123000"], "alpha""#),
        "{text}"
    );
    let version: u32 = rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
}
