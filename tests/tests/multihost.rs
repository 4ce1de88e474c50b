//! Discovery across hosts: `herald node` processes in network namespaces joined by a bridge (198.51.100.0/24),
//! on the default group and port, each on its host's `eth0`. Needs root; CI runs it inside its own namespace.

use herald_core::bridge::BridgeEvent;
use herald_tests::{Lan, Running};

const HEARTBEAT_MS: &str = "200";

fn node(lan: &Lan, i: usize, extra: &[&str]) -> Running {
    let name = format!("host{i}");
    let mut args = vec![
        "node",
        "--name",
        &name,
        "--interface",
        "eth0",
        "--heartbeat",
        HEARTBEAT_MS,
        "--json",
    ];
    args.extend_from_slice(extra);
    lan.spawn(i, &args)
}

fn joined(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == name)
}

fn left(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerLeft { peer, .. } if peer.name == name)
}

fn lost(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerLost { peer, .. } if peer.name == name)
}

#[test]
fn three_hosts_see_each_other_and_a_fourth_looks_up_a_service() {
    let lan = Lan::new(4);
    let nodes = [
        node(&lan, 1, &["--service", "web=8080"]),
        node(&lan, 2, &[]),
        node(&lan, 3, &["--service", "web=9090"]),
    ];
    for (i, node) in nodes.iter().enumerate() {
        for other in (1..=3).filter(|&j| j != i + 1) {
            let name = format!("host{other}");
            let event = node.wait_for(&format!("host{} seeing {name}", i + 1), joined(&name));
            let BridgeEvent::PeerJoined { peer, .. } = event else {
                unreachable!()
            };
            assert_eq!(peer.addr.to_string(), Lan::ip(other), "address of {name}");
        }
    }
    let out = lan.run(4, &["lookup", "web", "--interface", "eth0", "--wait", "1"]);
    assert!(
        out.status.success(),
        "lookup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        found.lines().collect::<Vec<_>>(),
        [
            format!("{}:8080", Lan::ip(1)),
            format!("{}:9090", Lan::ip(3))
        ]
    );
    let none = lan.run(
        4,
        &["lookup", "ftp", "--interface", "eth0", "--wait", "0.5"],
    );
    assert_eq!(none.status.code(), Some(1), "no provider: exit 1");
}

#[test]
fn a_killed_node_is_lost_and_a_stopped_one_left() {
    let lan = Lan::new(3);
    let watcher = node(&lan, 1, &[]);
    let mut gentle = node(&lan, 2, &[]);
    let mut crashing = node(&lan, 3, &[]);
    watcher.wait_for("host2 joined", joined("host2"));
    watcher.wait_for("host3 joined", joined("host3"));
    crashing.kill();
    watcher.wait_for("host3 lost after kill -9", lost("host3"));
    gentle.stop();
    watcher.wait_for("host2 left after SIGTERM", left("host2"));
}

#[test]
fn an_unplugged_host_is_lost_and_comes_back() {
    let lan = Lan::new(2);
    let watcher = node(&lan, 1, &[]);
    let _roaming = node(&lan, 2, &[]);
    watcher.wait_for("host2 joined", joined("host2"));
    lan.plug(2, false);
    watcher.wait_for("host2 lost while unplugged", lost("host2"));
    lan.plug(2, true);
    watcher.wait_for("host2 back once plugged in", joined("host2"));
}

#[test]
fn a_host_whose_address_changes_is_reported_changed() {
    let lan = Lan::new(2);
    let watcher = node(&lan, 1, &[]);
    // Host 2 runs with the default interface (no --interface): the one its routing table uses for the group.
    lan.ip_in(2, &["route", "add", "default", "dev", "eth0"]);
    let _moving = lan.spawn(
        2,
        &[
            "node",
            "--name",
            "host2",
            "--heartbeat",
            HEARTBEAT_MS,
            "--json",
        ],
    );
    let event = watcher.wait_for("host2 joined", joined("host2"));
    assert!(
        matches!(event, BridgeEvent::PeerJoined { peer, .. } if peer.addr.to_string() == Lan::ip(2))
    );
    // As a DHCP renewal with a new lease does: the old address goes, the new one comes.
    lan.readdress(2, "198.51.100.42");
    let event = watcher.wait_for("host2 changed address", |e| {
        matches!(e, BridgeEvent::PeerChanged { peer, .. } if peer.name == "host2" && peer.addr.to_string() == "198.51.100.42")
    });
    assert!(matches!(event, BridgeEvent::PeerChanged { .. }));
}

#[test]
fn a_message_published_on_one_host_reaches_subscribers_on_two_others() {
    let lan = Lan::new(3);
    let subscribers = [2, 3].map(|i| node(&lan, i, &["--subscribe", "sensors.*"]));
    // The publisher is a one-shot; publish until both subscribers have the message (the first tries may
    // run before the subscribers' beacons are out).
    let mut got = [false, false];
    for attempt in 0..20 {
        let text = format!("21.5 C #{attempt}");
        let out = lan.run(
            1,
            &[
                "publish",
                "sensors.kitchen",
                &text,
                "--interface",
                "eth0",
                "--wait",
                "0.5",
            ],
        );
        assert!(
            out.status.success(),
            "publish failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if String::from_utf8_lossy(&out.stderr).contains("published to 2 subscriber") {
            for (seen, subscriber) in got.iter_mut().zip(&subscribers) {
                let event = subscriber.wait_for("the message", |e| {
                    matches!(e, BridgeEvent::Message(m) if m.payload.as_text() == Some(text.as_str()))
                });
                let BridgeEvent::Message(message) = event else {
                    unreachable!()
                };
                assert_eq!(message.topic.as_deref(), Some("sensors.kitchen"));
                assert!(
                    message.from_name.contains("-cli-"),
                    "from the one-shot publisher: {}",
                    message.from_name
                );
                *seen = true;
            }
            break;
        }
    }
    assert_eq!(
        got,
        [true, true],
        "both subscribers got a message published to both"
    );
}
