//! Unicast seeds on real sockets, on loopback: each node on its own 127.0.N.x address with its own multicast
//! group port, so multicast cannot join them (asserted) and only seeds can. Tests wait for what they expect
//! with generous timeouts; none asserts a duration.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use common::PATIENCE;
use herald_core::discovery::{self, DiscoveryMessage, PeerList};
use herald_node::auth::Key;
use herald_node::config::{InterfaceSpec, Seed};
use herald_node::discovery::peers::PeerChange;
use herald_node::node::{Node, NodeEvent};
use herald_node::NodeConfig;

/// A block of 8 ports for one test: group ports of its nodes, each node its own.
fn ports() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    45_000 + (std::process::id() % 300) as u16 * 60 + NEXT.fetch_add(8, Ordering::Relaxed)
}

/// Node `name` on `ip`, alone on group port `port` (its unicast discovery socket takes the same port).
fn node_config(name: &str, ip: Ipv4Addr, port: u16, seeds: &[(Ipv4Addr, u16)]) -> NodeConfig {
    let mut config = common::config(name, port);
    config.interface = InterfaceSpec::Addr(ip);
    config.seeds = seeds
        .iter()
        .map(|(ip, port)| Seed {
            host: ip.to_string(),
            port: *port,
        })
        .collect();
    config
}

fn names(node: &Node) -> Vec<String> {
    node.peers().into_iter().map(|p| p.name).collect()
}

fn counter(node: &Node, name: &str) -> u64 {
    node.stats().counters[name]
}

/// Waits until `done` holds (checked every 20 ms), failing with `what` after [`PATIENCE`].
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    waited
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {PATIENCE:?}"));
}

#[tokio::test]
async fn nodes_that_multicast_cannot_join_find_each_other_through_a_seed_and_keep_it_without_it() {
    let base = ports();
    let ip = |last| Ipv4Addr::new(127, 0, 18, last);
    let seed = Node::start(node_config("seed", ip(2), base, &[]))
        .await
        .unwrap();
    let seeds = [(ip(2), base)];
    let mut others = Vec::new();
    for (i, name) in ["alpha", "bravo", "charlie"].into_iter().enumerate() {
        let config = node_config(name, ip(3 + i as u8), base + 1 + i as u16, &seeds);
        others.push(Node::start(config).await.unwrap());
    }
    // The control: a node on its own group with no seed sees nobody, and nobody sees it.
    let loner = Node::start(node_config("loner", ip(7), base + 5, &[]))
        .await
        .unwrap();

    eventually("all four see each other", || {
        names(&seed) == ["alpha", "bravo", "charlie"] && others.iter().all(|n| n.peers().len() == 3)
    })
    .await;
    assert_eq!(names(&others[0]), ["bravo", "charlie", "seed"]);
    assert!(counter(&seed, "discovery.peer_lists.sent") >= 1);
    assert!(counter(&others[2], "discovery.peer_lists.received") >= 1);
    assert!(loner.peers().is_empty(), "multicast must not join them");
    assert!(others.iter().all(|n| n.peer("loner").is_none()));

    // The seed leaves: the others see it go, and keep each other well past their expiry.
    seed.shutdown().await;
    eventually("the seed's leave seen", || {
        others.iter().all(|n| n.peer("seed").is_none())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200 * 3 * 4)).await;
    for node in &others {
        assert_eq!(node.peers().len(), 2, "{:?}", names(node));
    }

    // One of them goes away without a word (its runtime is dropped, like kill -9): the others lose it.
    let delta =
        common::Crashable::start(node_config("delta", ip(6), base + 4, &[(ip(3), base + 1)]));
    eventually("delta, seeded by alpha, seen by all three", || {
        others.iter().all(|n| n.peer("delta").is_some())
    })
    .await;
    delta.crash();
    eventually("delta lost by all three", || {
        others.iter().all(|n| n.peer("delta").is_none())
    })
    .await;
    for node in others.into_iter().chain([loner]) {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_peer_heard_by_multicast_and_through_a_seed_is_one_peer() {
    let base = ports();
    let ip = Ipv4Addr::new(127, 0, 19, 2);
    let other_ip = Ipv4Addr::new(127, 0, 19, 3);
    // Both on one group port (multicast joins them) and bravo also seeded by alpha.
    let mut a = node_config("alpha", ip, base, &[]);
    a.discovery_port = Some(base + 1);
    let alpha = Node::start(a).await.unwrap();
    let bravo = Node::start(node_config("bravo", other_ip, base, &[(ip, base + 1)]))
        .await
        .unwrap();
    eventually("they see each other", || {
        alpha.peers().len() == 1 && bravo.peers().len() == 1
    })
    .await;
    // No churn: for five heartbeats nothing changes or leaves (a new reader hears of the live peers first).
    let mut events = alpha.events();
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(200 * 5), async {
        loop {
            if let Some(NodeEvent::Peer(event)) = events.next().await {
                seen.push(event.change);
            }
        }
    })
    .await;
    assert!(seen.iter().all(|c| *c == PeerChange::Joined), "{seen:?}");
    assert!(seen.len() <= 1, "{seen:?}");
    assert_eq!(names(&alpha), ["bravo"]);
    assert_eq!(names(&bravo), ["alpha"]);
    alpha.shutdown().await;
    bravo.shutdown().await;
}

#[tokio::test]
async fn where_multicast_works_no_peer_lists_go_out() {
    let base = ports();
    let ip = |last| Ipv4Addr::new(127, 0, 23, last);
    // Three nodes on one group: the unicast greetings they exchange are answered by multicast, not lists.
    let mut nodes = Vec::new();
    for (i, name) in ["alpha", "bravo", "charlie"].into_iter().enumerate() {
        nodes.push(
            Node::start(node_config(name, ip(2 + i as u8), base, &[]))
                .await
                .unwrap(),
        );
    }
    eventually("all three see each other", || {
        nodes.iter().all(|n| n.peers().len() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200 * 4)).await;
    for node in nodes {
        assert_eq!(counter(&node, "discovery.peer_lists.sent"), 0);
        node.shutdown().await;
    }
}

#[tokio::test]
async fn with_a_key_seeds_work_and_an_unsigned_peer_list_is_refused_and_counted() {
    let base = ports();
    let ip = |last| Ipv4Addr::new(127, 0, 20, last);
    let key = Key::from_bytes(vec![42; 32]);
    let keyed = |name, last, port, seeds: &[(Ipv4Addr, u16)]| {
        let mut config = node_config(name, ip(last), port, seeds);
        config.key = Some(key.clone());
        config
    };
    // A fake seed: answers whatever reaches it with an unsigned list.
    let fake = tokio::net::UdpSocket::bind((ip(9), 0)).await.unwrap();
    let fake_port = fake.local_addr().unwrap().port();
    let seed = Node::start(keyed("seed", 2, base, &[])).await.unwrap();
    let alpha = Node::start(keyed("alpha", 3, base + 1, &[(ip(2), base)]))
        .await
        .unwrap();
    let bravo = Node::start(keyed(
        "bravo",
        4,
        base + 2,
        &[(ip(2), base), (ip(9), fake_port)],
    ))
    .await
    .unwrap();
    let mut buf = [0u8; 2048];
    let (_, from) = tokio::time::timeout(PATIENCE, fake.recv_from(&mut buf))
        .await
        .expect("bravo beacons its seeds")
        .unwrap();
    let list = DiscoveryMessage::PeerList(PeerList {
        addrs: vec![SocketAddr::from((ip(8), 7268))],
    });
    let bytes = discovery::encode_datagram(&list, None).unwrap();
    fake.send_to(&bytes, from).await.unwrap();
    eventually("the unsigned list counted", || {
        counter(&bravo, "discovery.peer_lists.unsigned") == 1
    })
    .await;
    eventually("the keyed three see each other", || {
        [&seed, &alpha, &bravo].iter().all(|n| n.peers().len() == 2)
    })
    .await;
    assert_eq!(counter(&bravo, "discovery.peer_lists.ignored"), 0);
    for node in [seed, alpha, bravo] {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_second_node_on_one_address_falls_back_to_an_ephemeral_port_and_still_uses_seeds() {
    let base = ports();
    let ip = Ipv4Addr::new(127, 0, 21, 2);
    let other_ip = Ipv4Addr::new(127, 0, 21, 3);
    // First and second on one address with one discovery port: the second gets an ephemeral one.
    let mut first = node_config("first", ip, base, &[]);
    first.discovery_port = Some(base + 3);
    let first = Node::start(first).await.unwrap();
    let mut second = node_config("second", ip, base + 1, &[(other_ip, base + 2)]);
    second.discovery_port = Some(base + 3);
    let second = Node::start(second).await.unwrap();
    let seed = Node::start(node_config("seed", other_ip, base + 2, &[]))
        .await
        .unwrap();
    eventually("the seed and the second see each other", || {
        seed.peer("second").is_some() && second.peer("seed").is_some()
    })
    .await;
    assert!(first.peer("seed").is_none());
    for node in [first, second, seed] {
        node.shutdown().await;
    }
}
