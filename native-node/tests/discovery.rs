//! Discovery on real sockets: nodes in this process, multicast pinned to 127.0.0.1, each test on its own group
//! port. Tests wait for events with generous timeouts; none asserts a duration.

mod common;

use common::{config, PATIENCE};
use std::net::SocketAddr;
use std::time::Duration;

use herald_core::bridge::PeerState;
use herald_core::discovery::{self, Beacon, DiscoveryMessage};
use herald_node::auth::Key;
use herald_node::discovery::peers::PeerChange;
use herald_node::identity::random_node_id;
use herald_node::node::{Events, Node, NodeEvent, StartError};

/// Waits for the first peer event matching `wanted` about `name`.
async fn wait_for(
    events: &mut Events,
    name: &str,
    wanted: fn(&PeerChange) -> bool,
) -> herald_core::bridge::PeerInfo {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.next().await.expect("node running") {
                NodeEvent::Peer(event) if event.peer.name == name && wanted(&event.change) => {
                    return event.peer
                }
                _ => continue,
            }
        }
    });
    found
        .await
        .unwrap_or_else(|_| panic!("no matching event about {name} within {PATIENCE:?}"))
}

fn joined(change: &PeerChange) -> bool {
    *change == PeerChange::Joined
}

fn counter(node: &Node, name: &str) -> u64 {
    node.stats().counters[name]
}

/// Waits until `done` holds (checked every 20 ms), failing with `what` and the node's counters after
/// [`PATIENCE`].
async fn eventually(node: &Node, what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    if waited.await.is_err() {
        panic!(
            "{what} did not happen within {PATIENCE:?}; counters: {:?}",
            node.stats().counters
        );
    }
}

#[tokio::test]
async fn two_nodes_see_each_other_with_their_services() {
    let port = common::port(31000);
    let mut a_config = config("alpha", port);
    a_config.services.insert("web".into(), 8080);
    let alpha = Node::start(a_config).await.unwrap();
    let mut alpha_events = alpha.events();
    let bravo = Node::start(config("bravo", port)).await.unwrap();
    let mut bravo_events = bravo.events();

    let seen_by_alpha = wait_for(&mut alpha_events, "bravo", joined).await;
    assert_eq!(seen_by_alpha.node_id, bravo.id());
    let seen_by_bravo = wait_for(&mut bravo_events, "alpha", joined).await;
    assert_eq!(
        seen_by_bravo.services["web"],
        "127.0.0.1:8080".parse().unwrap()
    );
    assert_eq!(
        bravo.lookup("web"),
        vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        alpha.lookup("web"),
        bravo.lookup("web"),
        "a provider finds itself too"
    );

    bravo.advertise("ssh", 22);
    let changed = wait_for(&mut alpha_events, "bravo", |c| {
        matches!(c, PeerChange::Changed { .. })
    })
    .await;
    assert_eq!(changed.services["ssh"], "127.0.0.1:22".parse().unwrap());
    alpha.shutdown().await;
    bravo.shutdown().await;
}

#[tokio::test]
async fn a_graceful_leave_is_seen_as_left() {
    let port = common::port(31000);
    let alpha = Node::start(config("alpha", port)).await.unwrap();
    let mut events = alpha.events();
    let bravo = Node::start(config("bravo", port)).await.unwrap();
    wait_for(&mut events, "bravo", joined).await;
    bravo.shutdown().await;
    let left = wait_for(&mut events, "bravo", |c| *c == PeerChange::Left).await;
    assert_eq!(left.state, PeerState::Left);
    assert!(alpha.peers().is_empty());
    alpha.shutdown().await;
}

#[tokio::test]
async fn a_crashed_node_is_lost_after_its_expiry() {
    let port = common::port(31000);
    let alpha = Node::start(config("alpha", port)).await.unwrap();
    let mut events = alpha.events();
    // Bravo runs on its own runtime; dropping that runtime kills it without a leave beacon, like kill -9.
    let bravo = common::Crashable::start(config("bravo", port));
    wait_for(&mut events, "bravo", joined).await;
    bravo.crash();
    let lost = wait_for(&mut events, "bravo", |c| *c == PeerChange::Lost).await;
    assert_eq!(lost.state, PeerState::Lost);
    alpha.shutdown().await;
}

#[tokio::test]
async fn a_second_node_cannot_take_a_live_name() {
    let port = common::port(31000);
    let alpha = Node::start(config("alpha", port)).await.unwrap();
    let mut impostor = config("alpha", port);
    impostor.claim_wait = Duration::from_secs(2);
    match Node::start(impostor).await {
        Err(StartError::NameTaken { name, holder, .. }) => {
            assert_eq!(name, "alpha");
            assert_eq!(holder, alpha.id());
        }
        Ok(_) => panic!("the impostor started"),
        Err(other) => panic!("unexpected error {other}"),
    }
    assert!(counter(&alpha, "discovery.claims_our_name") >= 1);
    alpha.shutdown().await;
}

#[tokio::test]
async fn a_lookup_from_outside_finds_every_provider() {
    let port = common::port(31000);
    let mut a = config("alpha", port);
    a.services.insert("web".into(), 8080);
    let mut b = config("bravo", port);
    b.services.insert("web".into(), 9090);
    b.services.insert("db".into(), 5432);
    let (alpha, bravo) = (Node::start(a).await.unwrap(), Node::start(b).await.unwrap());
    let asker = config("asker", port);
    let web = herald_node::services::lookup(&asker, "web", Duration::from_millis(500))
        .await
        .unwrap();
    let addrs: Vec<String> = web.iter().map(|p| p.addr.to_string()).collect();
    assert_eq!(addrs, ["127.0.0.1:8080", "127.0.0.1:9090"]);
    let none = herald_node::services::lookup(&asker, "nothing", Duration::from_millis(300))
        .await
        .unwrap();
    assert!(none.is_empty());
    alpha.shutdown().await;
    bravo.shutdown().await;
}

#[tokio::test]
async fn with_a_key_only_keyed_nodes_are_seen_and_the_rest_is_counted() {
    let port = common::port(31000);
    let key = Key::from_bytes(vec![42; 32]);
    let mut a = config("alpha", port);
    a.key = Some(key.clone());
    let mut b = config("bravo", port);
    b.key = Some(key);
    let mut wrong = config("mallory", port);
    wrong.key = Some(Key::from_bytes(vec![7; 32]));
    let alpha = Node::start(a).await.unwrap();
    let mut events = alpha.events();
    let bravo = Node::start(b).await.unwrap();
    let plain = Node::start(config("eve", port)).await.unwrap();
    let mallory = Node::start(wrong).await.unwrap();
    wait_for(&mut events, "bravo", joined).await;
    // Wait until both intruders have been refused at least once, then check they were never let in.
    eventually(&alpha, "both intruders refused", || {
        counter(&alpha, "discovery.dropped.unsigned") > 0
            && counter(&alpha, "discovery.dropped.bad_tag") > 0
    })
    .await;
    let names: Vec<String> = alpha.peers().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["bravo"]);
    for node in [alpha, bravo, plain, mallory] {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn without_a_key_keyed_nodes_are_not_listed_and_their_beacons_are_counted() {
    let port = common::port(31000);
    let key = Key::from_bytes(vec![42; 32]);
    let mut a = config("alpha", port);
    a.key = Some(key.clone());
    let mut b = config("bravo", port);
    b.key = Some(key);
    let alpha = Node::start(a).await.unwrap();
    let bravo = Node::start(b).await.unwrap();
    let plain = Node::start(config("eve", port)).await.unwrap();
    let mut events = plain.events();
    let charlie = Node::start(config("charlie", port)).await.unwrap();
    // An unkeyed peer is still seen, so the keyed ones had their chance too.
    wait_for(&mut events, "charlie", joined).await;
    eventually(&plain, "the keyed beacons counted", || {
        counter(&plain, "discovery.dropped.signed") >= 2
    })
    .await;
    let names: Vec<String> = plain.peers().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["charlie"]);
    for node in [alpha, bravo, plain, charlie] {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn replayed_signed_beacons_are_refused() {
    let port = common::port(31000);
    let key = Key::from_bytes(vec![42; 32]);
    let mut a = config("alpha", port);
    a.key = Some(key.clone());
    let alpha = Node::start(a).await.unwrap();
    let beacon = Beacon {
        incarnation: 1,
        ..Beacon::new(random_node_id(), "ghost")
    };
    let an_hour_ago = herald_node::clock::unix_ms() - 3_600_000;
    let old =
        herald_node::discovery::seal(&DiscoveryMessage::Beacon(beacon), Some(&key), an_hour_ago)
            .unwrap();
    send_to_group(port, &old).await;
    eventually(&alpha, "the replay counted", || {
        counter(&alpha, "discovery.dropped.replay") > 0
    })
    .await;
    assert!(alpha.peers().is_empty());
    alpha.shutdown().await;
}

#[tokio::test]
async fn garbage_on_the_group_is_counted_and_harmless() {
    let port = common::port(31000);
    let alpha = Node::start(config("alpha", port)).await.unwrap();
    let mut events = alpha.events();
    let lookup = discovery::encode_datagram(
        &DiscoveryMessage::Lookup(discovery::LookupQuery {
            query_id: 1,
            service: "x".into(),
        }),
        None,
    )
    .unwrap();
    let mut wrong_version = lookup.clone();
    wrong_version[4] = 99;
    send_to_group(port, b"M-SEARCH * HTTP/1.1\r\n").await;
    send_to_group(port, &lookup[..5]).await;
    send_to_group(
        port,
        &[
            b'H',
            b'R',
            b'L',
            b'D',
            herald_core::PROTOCOL_VERSION,
            0,
            0xff,
            0xff,
            0xff,
        ],
    )
    .await;
    send_to_group(port, &vec![0u8; 1400]).await;
    send_to_group(port, &wrong_version).await;
    let kinds = [
        "discovery.dropped.foreign",
        "discovery.dropped.oversized",
        "discovery.dropped.version",
    ];
    eventually(&alpha, "every kind of garbage counted", || {
        kinds.iter().all(|n| counter(&alpha, n) > 0)
            && counter(&alpha, "discovery.dropped.malformed") >= 2
    })
    .await;
    // Still working:
    let bravo = Node::start(config("bravo", port)).await.unwrap();
    wait_for(&mut events, "bravo", joined).await;
    alpha.shutdown().await;
    bravo.shutdown().await;
}

#[tokio::test]
async fn a_full_table_refuses_newcomers_and_counts_them() {
    let port = common::port(31000);
    let mut small = config("alpha", port);
    small.max_peers = 2;
    let alpha = Node::start(small).await.unwrap();
    let others = [
        Node::start(config("p1", port)).await.unwrap(),
        Node::start(config("p2", port)).await.unwrap(),
        Node::start(config("p3", port)).await.unwrap(),
    ];
    eventually(&alpha, "the third peer refused", || {
        counter(&alpha, "discovery.refused.table_full") > 0 && alpha.peers().len() == 2
    })
    .await;
    assert_eq!(alpha.peers().len(), 2);
    for node in others {
        node.shutdown().await;
    }
    alpha.shutdown().await;
}

/// Sends raw bytes to the test's group on loopback (TTL 1, as a node would).
async fn send_to_group(port: u16, bytes: &[u8]) {
    let socket =
        herald_node::discovery::sockets::unicast_socket(std::net::Ipv4Addr::LOCALHOST).unwrap();
    socket
        .send_to(bytes, (discovery::DEFAULT_GROUP, port))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_proxied_peers_txt_reaches_other_nodes_capped_and_a_change_of_it_is_a_change() {
    use herald_core::PeerKind;
    use herald_node::proxies::ProxiedPeer;
    let port = common::port(31000);
    let gateway = Node::start(config("gateway", port)).await.unwrap();
    let other = Node::start(config("other", port)).await.unwrap();
    let mut events = other.events();
    // One record over the cap by itself, and two that fit.
    let txt = [
        ("big".to_owned(), "x".repeat(discovery::MAX_TXT_BYTES)),
        ("rp".to_owned(), "printers/x".to_owned()),
        ("ty".to_owned(), "Lab printer".to_owned()),
    ];
    let mut printer = ProxiedPeer {
        name: "printer".into(),
        kind: PeerKind::Mdns,
        addr: "127.0.0.1".parse().unwrap(),
        services: [("ipp".to_owned(), 631)].into(),
        site: None,
        txt: txt.into(),
    };
    let id = random_node_id();
    gateway.proxy_as(id, printer.clone(), None).unwrap();
    let seen = wait_for(&mut events, "printer", joined).await;
    assert_eq!(seen.node_id, id);
    assert_eq!(
        seen.txt.keys().collect::<Vec<_>>(),
        ["rp", "ty"],
        "{seen:?}"
    );
    assert_eq!(seen.txt["ty"], "Lab printer");
    assert_eq!(counter(&gateway, "discovery.txt.left_out"), 1);

    printer.txt = [("rp".to_owned(), "printers/y".to_owned())].into();
    gateway.proxy_as(id, printer, None).unwrap();
    let changed = wait_for(&mut events, "printer", |c| {
        matches!(c, PeerChange::Changed { .. })
    })
    .await;
    assert_eq!(
        changed.txt,
        [("rp".to_owned(), "printers/y".to_owned())].into()
    );
    gateway.shutdown().await;
    other.shutdown().await;
}
