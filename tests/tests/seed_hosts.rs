//! Discovery where multicast is blocked (issue 18, unicast seeds): five `herald node` hosts in network
//! namespaces (198.51.100.0/24) on a switch that drops multicast. Needs root; CI runs it inside its own
//! namespace.

use herald_core::bridge::BridgeEvent;
use herald_tests::{Lan, Running};

fn node(lan: &Lan, i: usize, extra: &[&str]) -> Running {
    lan.node(i, &format!("host{i}"), extra)
}

fn joined(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == name)
}

fn gone(name: &str) -> impl Fn(&BridgeEvent) -> bool + '_ {
    move |e| matches!(e, BridgeEvent::PeerLost { peer, .. } | BridgeEvent::PeerLeft { peer, .. } if peer.name == name)
}

/// Waits until every node in `nodes` (host `first + k`) has seen every other one join.
fn all_see_each_other(nodes: &[(usize, Running)]) {
    for (i, node) in nodes {
        for (j, _) in nodes.iter().filter(|(j, _)| j != i) {
            let name = format!("host{j}");
            node.wait_for(&format!("host{i} seeing {name}"), joined(&name));
        }
    }
}

#[test]
fn five_hosts_behind_a_switch_that_drops_multicast_see_each_other_only_through_a_seed() {
    let lan = Lan::new(5);
    lan.drop_multicast();

    // Without seeds, nobody sees anybody: the block is real (each node beacons to the group every 200 ms
    // and greets every newcomer it hears; 3 s is 15 beacons each).
    let alone: Vec<Running> = (1..=5).map(|i| node(&lan, i, &[])).collect();
    std::thread::sleep(std::time::Duration::from_secs(3));
    for (i, node) in alone.iter().enumerate() {
        let seen = node.try_take(|e| matches!(e, BridgeEvent::PeerJoined { .. }));
        assert!(
            seen.is_none(),
            "host{} saw {seen:?} through the switch",
            i + 1
        );
    }
    drop(alone);

    // With --seed pointing at host 1, all five see each other.
    let seed = Lan::ip(1);
    let mut nodes: Vec<(usize, Running)> = vec![(1, node(&lan, 1, &[]))];
    for i in 2..=5 {
        nodes.push((i, node(&lan, i, &["--seed", &seed])));
    }
    all_see_each_other(&nodes);

    // A one-shot with the seed reaches a peer it learned of through it.
    let ask = lan.run(
        2,
        &[
            "ask",
            "--interface",
            "eth0",
            "--seed",
            &seed,
            "--timeout",
            "3",
            "--to",
            "host5",
            "ping",
        ],
    );
    assert!(
        ask.status.success(),
        "{}",
        String::from_utf8_lossy(&ask.stderr)
    );
    let answers: serde_json::Value = serde_json::from_slice(&ask.stdout).unwrap();
    assert_eq!(answers["host5"], "pong", "{answers}");

    // The seed host dies without a word: the other four detect its loss and keep each other.
    let (_, mut seed_node) = nodes.remove(0);
    seed_node.kill();
    for (i, node) in &nodes {
        node.wait_for(&format!("host{i} losing host1"), gone("host1"));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    for (i, node) in &nodes {
        let lost = node.try_take(|e| {
            matches!(e, BridgeEvent::PeerLost { peer, .. } | BridgeEvent::PeerLeft { peer, .. } if peer.name.starts_with("host") && peer.name != "host1")
        });
        assert!(lost.is_none(), "host{i}: {lost:?}");
    }

    // Host 3 moves to a new address: its peers see it changed there.
    lan.readdress(3, "198.51.100.33");
    for (i, node) in nodes.iter().filter(|(i, _)| *i != 3) {
        node.wait_for(&format!("host{i} seeing host3 move"), |e| {
            matches!(e, BridgeEvent::PeerChanged { peer, .. } if peer.name == "host3" && peer.addr.to_string() == "198.51.100.33")
        });
    }
}
