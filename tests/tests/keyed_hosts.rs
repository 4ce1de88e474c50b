//! Keyed LANs end to end: `herald` processes in network namespaces joined by a bridge (198.51.100.0/24), on the
//! default group and port, each on its host's `eth0`, with key files made by `herald keygen`.
//!
//! - Three hosts sharing a key publish, subscribe, send, ask and report to the IP log.
//! - A fourth host without the key, then with another key, cannot subscribe, send or ask (neither through
//!   discovery nor by dialling a keyed node's link port itself), and every refusal is counted on the keyed
//!   nodes' `/metrics`.
//! - A packet capture on a keyed host's `eth0` (a packet socket opened by the test inside that host, as
//!   `tcpdump` would) shows link traffic but not the text of a message published over it; the same capture on
//!   an unkeyed LAN shows the text.
//!
//! Needs root; CI runs it inside its own namespace. Waits on events with generous timeouts; no durations asserted.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::bridge::BridgeEvent;
use herald_core::frame::Frame;
use herald_core::PeerKind;
use herald_node::auth::Key;
use herald_node::link::connection::{connect, LinkConfig};
use herald_node::link::handshake::LocalIdentity;
use herald_tests::{binary, Lan, Running, TempDir, PATIENCE};

/// The bridge of every node that shows its counters, inside its host.
const METRICS_PORT: u16 = 8080;
/// The fixed link port of the keyed nodes, so a test can dial it by hand.
const LINK_PORT: u16 = 7300;

/// `herald keygen DIR/NAME`: the key file's path, checked to be readable by its owner only.
fn keygen(dir: &TempDir, name: &str) -> String {
    let path = dir.join(name);
    let out = std::process::Command::new(binary("herald"))
        .args(["keygen", &path])
        .output()
        .expect("run herald keygen");
    assert!(out.status.success(), "{out:?}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "herald keygen writes 0600");
    path
}

fn message_text(event: &BridgeEvent) -> Option<&str> {
    match event {
        BridgeEvent::Message(m) => m.payload.as_text(),
        _ => None,
    }
}

fn joined(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == name)
}

/// Waits until `node` printed the message `text`.
fn receives(node: &Running, text: &str) {
    node.wait_for(&format!("the message {text:?}"), |e| {
        message_text(e) == Some(text)
    });
}

/// `herald publish TOPIC -` on host `i` with `extra` options, starting once it knows `subscribers`.
fn publisher(lan: &Lan, i: usize, subscribers: usize, extra: &[&str]) -> Running {
    let n = subscribers.to_string();
    let mut args = vec![
        "publish",
        "news",
        "-",
        "--interface",
        "eth0",
        "--subscribers",
        &n,
        "--wait",
        "15",
    ];
    args.extend_from_slice(extra);
    lan.spawn_fed(i, &args)
}

/// Publishes `text` once from host `i`, to `subscribers` subscribers.
fn publish(lan: &Lan, i: usize, subscribers: usize, extra: &[&str], text: &str) {
    let mut publisher = publisher(lan, i, subscribers, extra);
    publisher.feed(text);
    assert!(publisher.finish_input().success(), "publish {text:?}");
}

/// `herald ask --json` from host `i`: (exit status success, each name's outcome).
fn ask(lan: &Lan, i: usize, args: &[&str]) -> (bool, serde_json::Value) {
    let mut full = vec!["ask", "--interface", "eth0", "--timeout", "2"];
    full.extend_from_slice(args);
    let out = lan.run(i, &full);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out.status.success(), json)
}

/// A counter of host `i`'s node (0 when it has not been counted yet).
fn counter(metrics: &BTreeMap<String, u64>, name: &str) -> u64 {
    metrics.get(name).copied().unwrap_or(0)
}

/// Waits until the counter `name` of host `i`'s node exceeds `above`.
fn counter_exceeds(lan: &Lan, i: usize, name: &str, above: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if counter(&lan.metrics(i, METRICS_PORT), name) > above {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "host{i}'s {name} stayed at {above} for {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Dials `to` from inside host `i` with the node library, as a node with `key` would, and on success sends a
/// direct message and a question: `Err` with the reason when the link is refused.
fn dial(lan: &Lan, i: usize, to: SocketAddr, key: Option<Key>) -> Result<String, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                lan.enter(i);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let me = LocalIdentity {
                        node_id: herald_node::identity::random_node_id(),
                        name: "intruder".into(),
                        kind: PeerKind::Cli,
                    };
                    let tasks = tokio_util::task::TaskTracker::new();
                    let link = connect(to, &LinkConfig::new(me, key), &tasks).await;
                    match link {
                        Ok(link) => {
                            let _ = link.sender.try_send(Frame::Direct {
                                payload: "let me in".into(),
                            });
                            Ok(link.peer.name)
                        }
                        Err(err) => Err(err.to_string()),
                    }
                })
            })
            .join()
            .expect("the dialling thread does not panic")
    })
}

#[test]
fn three_keyed_hosts_talk_and_a_fourth_without_the_key_or_with_another_is_refused_and_counted() {
    let lan = Lan::new(4);
    let dir = TempDir::new("keyed");
    let key = keygen(&dir, "lan.key");
    let other_key = keygen(&dir, "other.key");
    let db = dir.join("iplog.db");
    let port = LINK_PORT.to_string();
    let metrics = format!("127.0.0.1:{METRICS_PORT}");
    let keyed = ["--key-file", key.as_str()];
    let host1 = lan.node(
        1,
        "host1",
        &[
            "--key-file",
            &key,
            "--port",
            &port,
            "--subscribe",
            "news",
            "--dynip",
            "--db",
            &db,
            "--bridge",
            &metrics,
        ],
    );
    let host2 = lan.node(
        2,
        "host2",
        &[
            "--key-file",
            &key,
            "--port",
            &port,
            "--subscribe",
            "news",
            "--answer-with",
            "tr a-z A-Z",
            "--bridge",
            &metrics,
        ],
    );
    host1.wait_for("host1 seeing host2", joined("host2"));
    host2.wait_for("host2 seeing host1", joined("host1"));

    // Publish and subscribe, from a third keyed host.
    publish(&lan, 3, 2, &keyed, "keyed news");
    receives(&host1, "keyed news");
    receives(&host2, "keyed news");
    // Send.
    let out = lan.run(
        3,
        &[
            "send",
            "--to",
            "host2",
            "--interface",
            "eth0",
            "--key-file",
            &key,
            "psst",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    receives(&host2, "psst");
    // Ask.
    let (ok, answers) = ask(
        &lan,
        3,
        &["--to", "host1", "--to", "host2", "--key-file", &key, "ping"],
    );
    assert_eq!(
        answers,
        serde_json::json!({"host1": "pong", "host2": "PING"})
    );
    assert!(ok);
    // Report to the IP log on host1 (found through keyed discovery; the report signed).
    let out = lan.run(
        3,
        &[
            "dynip",
            "report",
            "--name",
            "laptop3",
            "--interface",
            "eth0",
            "--lookup-wait",
            "3",
            "--key-file",
            &key,
        ],
    );
    assert!(out.status.success(), "report: {out:?}");
    host1.wait_for("laptop3 in the IP log", |e| {
        matches!(e, BridgeEvent::IpChanged(c) if c.host == "laptop3" && c.new_ip.to_string() == Lan::ip(3))
    });

    let link1 = SocketAddr::from((Lan::ip(1).parse::<Ipv4Addr>().unwrap(), LINK_PORT));
    let cases: [(&str, Vec<&str>, Option<Key>, &str); 2] = [
        ("no key", vec![], None, "herald_discovery_dropped_unsigned"),
        (
            "another key",
            vec!["--key-file", &other_key],
            Some(Key::from_file(other_key.as_ref()).unwrap()),
            "herald_discovery_dropped_bad_tag",
        ),
    ];
    for (case, extra, dial_key, beacons_refused) in cases {
        let before: Vec<BTreeMap<String, u64>> = [1, 2]
            .iter()
            .map(|&i| lan.metrics(i, METRICS_PORT))
            .collect();
        let mut args = vec!["--subscribe", "news"];
        args.extend_from_slice(&extra);
        let mut host4 = lan.node(4, "host4", &args);
        // Its beacons reach both keyed nodes, which refuse and count them.
        for (i, before) in [1, 2].into_iter().zip(&before) {
            counter_exceeds(&lan, i, beacons_refused, counter(before, beacons_refused));
        }
        // It cannot send or ask: it does not take the keyed nodes for peers.
        let mut send = vec![
            "send",
            "--to",
            "host1",
            "--interface",
            "eth0",
            "--wait",
            "1",
        ];
        send.extend_from_slice(&extra);
        send.push("let me in");
        let out = lan.run(4, &send);
        assert!(
            !out.status.success(),
            "{case}: send to host1 went through: {out:?}"
        );
        let mut question = vec!["--to", "host1", "--to", "host2"];
        question.extend_from_slice(&extra);
        question.push("ping");
        let (ok, answers) = ask(&lan, 4, &question);
        assert!(!ok, "{case}");
        assert_eq!(
            answers,
            serde_json::json!({"host1": null, "host2": null}),
            "{case}"
        );
        // Nor subscribe: the keyed subscribers get the next message; it does not.
        let text = format!("for keyed hosts only ({case})");
        publish(&lan, 3, 2, &keyed, &text);
        receives(&host1, &text);
        receives(&host2, &text);
        // Dialling host1's link port itself, as a node would, is refused and counted there.
        let refused = counter(&before[0], "herald_links_refused_auth");
        let dialled = dial(&lan, 4, link1, dial_key);
        assert!(
            matches!(&dialled, Err(reason) if reason.contains("Auth")),
            "{case}: {dialled:?}"
        );
        counter_exceeds(&lan, 1, "herald_links_refused_auth", refused);
        let metrics = lan.metrics(1, METRICS_PORT);
        assert!(
            counter(&metrics, "herald_links_handshakes_failed")
                > counter(&before[0], "herald_links_handshakes_failed")
        );
        assert_eq!(
            counter(&metrics, "herald_links_decrypt_failed"),
            0,
            "nothing got far enough to send a sealed message"
        );
        host4.stop();
        assert!(
            host4.try_take(|e| message_text(e).is_some()).is_none(),
            "{case}: host4 received a message"
        );
        assert!(
            host4
                .try_take(|e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name.starts_with("host")))
                .is_none(),
            "{case}: host4 listed a keyed node"
        );
    }
}

/// A packet capture on one host's `eth0`, by a packet socket the test opens inside that host.
struct Capture {
    stop: Arc<AtomicBool>,
    packets: std::thread::JoinHandle<Vec<Vec<u8>>>,
}

impl Capture {
    /// Starts capturing every frame host `i` sends or receives; returns once the socket is open.
    fn start(lan: &Lan, i: usize) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        let socket = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    lan.enter(i);
                    open_packet_socket()
                })
                .join()
                .expect("the capture opens")
        });
        let stopping = stop.clone();
        let packets = std::thread::spawn(move || {
            let _ = ready_tx.send(());
            let mut packets = Vec::new();
            let mut buf = vec![0u8; 256 * 1024];
            while !stopping.load(Ordering::Relaxed) {
                // SAFETY: reading into a buffer of the length given, on a socket this thread owns.
                let n = unsafe {
                    libc::recv(
                        std::os::fd::AsRawFd::as_raw_fd(&socket),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                    )
                };
                if n > 0 {
                    packets.push(buf[..n as usize].to_vec());
                }
            }
            packets
        });
        ready.recv().expect("the capture thread runs");
        Capture { stop, packets }
    }

    /// Stops and returns every frame captured.
    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.packets.join().expect("the capture does not panic")
    }
}

/// A packet socket bound to this namespace's `eth0`, every protocol, with a short receive timeout (so the
/// capture thread sees its stop flag).
fn open_packet_socket() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket calls with valid arguments; the fd is owned at once.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, all as libc::c_int);
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all;
        addr.sll_ifindex = libc::if_nametoindex(c"eth0".as_ptr()) as i32;
        assert!(addr.sll_ifindex > 0, "no eth0");
        let bound = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        let set = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        assert_eq!(set, 0);
        socket
    }
}

/// The TCP payload bytes of the captured Ethernet frames from `from` to `to` (IPv4), in capture order.
fn tcp_payload(packets: &[Vec<u8>], from: Ipv4Addr, to: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in packets {
        let Some(ip) = frame.get(14..) else { continue };
        if frame[12..14] != [0x08, 0x00] || ip.len() < 20 || ip[9] != 6 {
            continue;
        }
        if ip[12..16] != from.octets() || ip[16..20] != to.octets() {
            continue;
        }
        let header = ((ip[0] & 0x0f) as usize) * 4;
        let total = (u16::from_be_bytes([ip[2], ip[3]]) as usize).min(ip.len());
        let Some(tcp) = ip.get(header..total) else {
            continue;
        };
        let Some(&offset) = tcp.get(12) else { continue };
        if let Some(payload) = tcp.get(((offset >> 4) as usize) * 4..) {
            out.extend_from_slice(payload);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_capture_between_keyed_hosts_lacks_the_published_text_and_an_unkeyed_capture_has_it() {
    let lan = Lan::new(4);
    let dir = TempDir::new("capture");
    let key = keygen(&dir, "lan.key");
    let ip = |i: usize| Lan::ip(i).parse::<Ipv4Addr>().unwrap();
    let keyed_subscriber = lan.node(2, "host2", &["--key-file", &key, "--subscribe", "news"]);
    let plain_subscriber = lan.node(4, "host4", &["--subscribe", "news"]);

    // Keyed: host3 publishes to host2; host2's eth0 is captured.
    let secret = "the-canary-text-of-a-keyed-message";
    let capture = Capture::start(&lan, 2);
    publish(&lan, 3, 1, &["--key-file", &key], secret);
    receives(&keyed_subscriber, secret);
    let packets = capture.finish();
    let link = tcp_payload(&packets, ip(3), ip(2));
    assert!(
        link.len() > secret.len(),
        "the capture holds the link traffic ({} bytes from host3 to host2)",
        link.len()
    );
    let everything: Vec<u8> = packets.concat();
    assert!(
        !contains(&everything, secret),
        "the published text is readable in a keyed LAN's capture"
    );

    // Unkeyed: host3 publishes to host4 (the keyed subscriber is not its peer); host4's eth0 is captured.
    let open = "the-canary-text-of-an-unkeyed-message";
    let capture = Capture::start(&lan, 4);
    publish(&lan, 3, 1, &[], open);
    receives(&plain_subscriber, open);
    let packets = capture.finish();
    assert!(
        contains(&tcp_payload(&packets, ip(3), ip(4)), open),
        "an unkeyed LAN's capture shows the published text"
    );
}
