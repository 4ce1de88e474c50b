//! Sites: two LANs joined through NATS, across network namespaces (see `herald_tests::sites`). Site A on
//! 198.51.100.0/24 and site B on 203.0.113.0/24, three hosts each; their gateways (`a1`, `b1`) also sit on
//! the WAN 192.0.2.0/24 where the hub `nats-server` runs. In the leaf variant site B runs its own
//! `nats-server` as a leaf node of the hub, and B's gateway connects to it. Real `herald` processes, real
//! `nats-server`s (stopped by the test), a plain NATS client (async-nats) on the hub host.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_core::bridge::{BridgeEvent, PeerInfo};
use herald_core::iplog::IpChangeSource;
use herald_tests::sites::{enter_netns, Sites, HUB};
use herald_tests::{Running, TempDir, PATIENCE};

fn peer_event<'a>(event: &'a BridgeEvent, name: &str) -> Option<(&'static str, &'a PeerInfo)> {
    let (what, peer) = match event {
        BridgeEvent::PeerJoined { peer, .. } => ("joined", peer),
        BridgeEvent::PeerChanged { peer, .. } => ("changed", peer),
        BridgeEvent::PeerLeft { peer, .. } => ("left", peer),
        BridgeEvent::PeerLost { peer, .. } => ("lost", peer),
        _ => return None,
    };
    (peer.name == name).then_some((what, peer))
}

fn message_text(event: &BridgeEvent) -> Option<String> {
    match event {
        BridgeEvent::Message(m) => m.payload.as_text().map(str::to_owned),
        _ => None,
    }
}

/// A plain NATS client on the hub host: it reports the first message on `herald.v1.t.sensors.>` and
/// publishes `from nats` on `herald.v1.t.chat` every 200 ms until the test ends it.
struct PlainClient {
    received: mpsc::Receiver<(Vec<u8>, Option<String>)>,
    stop: mpsc::SyncSender<()>,
}

impl PlainClient {
    fn start(net: &Sites) -> PlainClient {
        // Bounded: the client's thread waits for the test rather than piling up what it receives.
        let (tx, received) = mpsc::sync_channel(1024);
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let ns_entered = {
            let (entered_tx, entered_rx) = mpsc::sync_channel(1);
            let hub = net.netns_path("hub");
            std::thread::spawn(move || {
                enter_netns(&hub);
                entered_tx.send(()).unwrap();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let deadline = Instant::now() + PATIENCE;
                    let client = loop {
                        match async_nats::connect(format!("nats://{HUB}:4222")).await {
                            Ok(client) => break client,
                            Err(_) if Instant::now() < deadline => {
                                tokio::time::sleep(Duration::from_millis(100)).await
                            }
                            Err(err) => panic!("the plain client cannot connect: {err}"),
                        }
                    };
                    let mut sensors = client.subscribe("herald.v1.t.sensors.>").await.unwrap();
                    let mut reported = false;
                    let mut tick = tokio::time::interval(Duration::from_millis(200));
                    loop {
                        if stopped.try_recv().is_ok() {
                            return;
                        }
                        tokio::select! {
                            _ = tick.tick() => {
                                let _ = client.publish("herald.v1.t.chat", "from nats".into()).await;
                            }
                            Some(message) = sensors.next(), if !reported => {
                                let site = message
                                    .headers
                                    .as_ref()
                                    .and_then(|h| h.get("Herald-From"))
                                    .and_then(|v| v.as_str().split(' ').next().map(str::to_owned));
                                reported = true;
                                let _ = tx.send((message.payload.to_vec(), site));
                            }
                        }
                    }
                });
            });
            entered_rx
        };
        ns_entered.recv().expect("the client thread started");
        PlainClient { received, stop }
    }
}

impl Drop for PlainClient {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn hub_server(net: &Sites, dir: &TempDir) -> Running<serde_json::Value> {
    let conf = dir.join("hub.conf");
    std::fs::write(
        &conf,
        format!("listen: \"{HUB}:4222\"\nleafnodes {{ listen: \"{HUB}:7422\" }}\n"),
    )
    .unwrap();
    let log = dir.join("hub.log");
    net.spawn_in("hub", "nats-server", &["-c", &conf, "-l", &log])
}

/// Runs `herald ARGS` on `host` until `check` holds for its stdout, retrying for a while (discovery through
/// two gateways takes a few heartbeats).
fn run_until(net: &Sites, host: &str, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = net.run(host, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if check(&stdout) {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "herald {args:?} on {host}: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn two_sites(leaf: bool) {
    let net = Sites::two_sites();
    let dir = TempDir::new("sites");
    let mut hub = hub_server(&net, &dir);
    let b_nats = if leaf {
        let conf = dir.join("leaf.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: \"127.0.0.1:4222\"\nleafnodes {{ remotes: [ {{ url: \"nats-leaf://{HUB}:7422\" }} ] }}\n"
            ),
        )
        .unwrap();
        let log = dir.join("leaf.log");
        Some(net.spawn_in("b1", "nats-server", &["-c", &conf, "-l", &log]))
    } else {
        None
    };
    let hub_url = format!("nats://{HUB}:4222");
    let b_url = if leaf {
        "nats://127.0.0.1:4222".to_owned()
    } else {
        hub_url.clone()
    };
    let gateway = ["--site-heartbeat", "300", "--bridge", "127.0.0.1:8090"];
    let mut gw_a = ["--site", "a", "--nats", &hub_url].to_vec();
    gw_a.extend(gateway);
    let _gw_a = net.node("a1", "gw-a", &gw_a);
    let db = dir.join("a2-iplog.db");
    let a2 = net.node(
        "a2",
        "a2",
        &[
            "--service",
            "web=8080",
            "--answer-with",
            "cat",
            "--dynip",
            "--db",
            &db,
        ],
    );
    let a3 = net.node("a3", "a3", &["--answer-with", "cat", "--subscribe", "chat"]);
    let mut gw_b = ["--site", "b", "--nats", &b_url].to_vec();
    gw_b.extend(gateway);
    let _gw_b = net.node("b1", "gw-b", &gw_b);
    let b2 = net.node("b2", "b2", &["--subscribe", "sensors.*"]);

    // A host at A lists B's peers with their site; a lookup at B finds a service at A (its own address).
    let (_, b2_at_a) = peer_event(
        &a2.wait_for("b2 joined at a", |e| {
            peer_event(e, "b2").is_some_and(|(what, p)| what == "joined" && p.site.is_some())
        }),
        "b2",
    )
    .map(|(w, p)| (w, p.clone()))
    .unwrap();
    assert_eq!(b2_at_a.site.as_deref(), Some("b"));
    assert_eq!(b2_at_a.addr.to_string(), "203.0.113.12", "its own address");
    let peers = run_until(
        &net,
        "a3",
        &["peers", "--interface", "eth0", "--json"],
        |out| out.contains("\"b2\""),
    );
    let listed: Vec<PeerInfo> = peers
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let listed_b2 = listed.iter().find(|p| p.name == "b2").unwrap();
    assert_eq!(listed_b2.site.as_deref(), Some("b"));
    let found = run_until(
        &net,
        "b3",
        &["lookup", "web", "--interface", "eth0"],
        |out| !out.is_empty(),
    );
    assert_eq!(found.trim(), "198.51.100.12:8080 site=a");

    // A publish at A reaches `herald subscribe`-style subscriber at B and the plain NATS client; the plain
    // client's publish reaches a Herald subscriber at A.
    let plain = PlainClient::start(&net);
    // Each try is numbered: a try that arrives late is not taken for a duplicate. Returns the text that came.
    let publish_until_received = |text: &str| -> String {
        let deadline = Instant::now() + PATIENCE;
        for attempt in 1.. {
            let text = format!("{text} #{attempt}");
            let _ = net.run(
                "a3",
                &[
                    "publish",
                    "sensors.kitchen",
                    &text,
                    "--interface",
                    "eth0",
                    "--wait",
                    "1",
                ],
            );
            let arrived = |e: &BridgeEvent| {
                message_text(e).is_some_and(|t| t.starts_with(text.split('#').next().unwrap()))
            };
            if b2.try_take(arrived).is_some() {
                // Later tries may still be on their way; wait for them, then no text may come twice.
                std::thread::sleep(Duration::from_millis(1000));
                let mut seen = std::collections::BTreeSet::new();
                while let Some(e) = b2.try_take(arrived) {
                    assert!(seen.insert(message_text(&e)), "a duplicate at b2: {e:?}");
                }
                return text;
            }
            assert!(Instant::now() < deadline, "{text:?} never reached b2");
            std::thread::sleep(Duration::from_millis(200));
        }
        unreachable!()
    };
    publish_until_received("21.5 C");
    let (payload, site) = plain
        .received
        .recv_timeout(PATIENCE)
        .expect("the plain NATS client got a Herald message");
    assert!(payload.starts_with(b"21.5 C #"), "{payload:?}");
    assert_eq!(site.as_deref(), Some("a"));
    a3.wait_for("the plain client's message", |e| {
        message_text(e).as_deref() == Some("from nats")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        b2.try_take(|e| message_text(e).as_deref() == Some("21.5 C"))
            .is_none(),
        "no duplicate at b2"
    );

    // An ask from B to two peers at A and one ghost: both answers and unknown_peer; a direct message arrives.
    let out = net.run(
        "b3",
        &[
            "ask",
            "--interface",
            "eth0",
            "--to",
            "a2",
            "--to",
            "a3@a",
            "--to",
            "ghost",
            "--timeout",
            "3",
            "--json",
            "ping",
        ],
    );
    let outcomes: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    for name in ["a2", "a3@a"] {
        assert!(
            outcomes[name].to_string().contains("ping"),
            "{name}: {outcomes}"
        );
    }
    assert_eq!(
        outcomes["ghost"],
        serde_json::json!({"no_answer": "unknown_peer"})
    );
    let out = net.run(
        "b3",
        &[
            "send",
            "--interface",
            "eth0",
            "--to",
            "a3@a",
            "hello from b",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    a3.wait_for("the direct message from b", |e| {
        message_text(e).as_deref() == Some("hello from b")
    });

    // A host at B moves address; A's IP log records the move (source nats, host name@site).
    net.readdress("b2", "203.0.113.12", "203.0.113.42");
    let moved = a2.wait_for("b2's move in a2's IP log", |e| {
        matches!(e, BridgeEvent::IpChanged(c) if c.host == "b2@b" && c.new_ip.to_string() == "203.0.113.42")
    });
    let BridgeEvent::IpChanged(moved) = moved else {
        unreachable!()
    };
    assert_eq!(moved.source, IpChangeSource::Nats);
    assert_eq!(
        moved.old_ip.map(|ip| ip.to_string()).as_deref(),
        Some("203.0.113.12")
    );
    publish_until_received("after the move");

    // The hub dies: each site keeps working on its own, B's peers at A go lost; the hub restarts: they come
    // back and messages flow again; the counters say what happened.
    hub.kill();
    a2.wait_for("b2 lost at a", |e| {
        peer_event(e, "b2").is_some_and(|(what, _)| what == "lost")
    });
    let local = net.run(
        "a3",
        &[
            "ask",
            "--interface",
            "eth0",
            "--to",
            "a2",
            "--timeout",
            "3",
            "local",
        ],
    );
    assert!(local.status.success(), "site a alone still asks: {local:?}");
    hub = hub_server(&net, &dir);
    a2.wait_for("b2 back at a", |e| {
        peer_event(e, "b2").is_some_and(|(what, _)| what == "joined")
    });
    publish_until_received("after the restart");
    let counters = net.metrics("a1", 8090);
    assert!(counters["herald_nats_disconnects"] >= 1, "{counters:?}");
    assert!(counters["herald_nats_remote_lost"] >= 1, "{counters:?}");
    drop(plain);
    drop(hub);
    drop(b_nats);
}

#[test]
fn two_sites_through_a_hub() {
    two_sites(false);
}

#[test]
fn two_sites_with_a_leaf_node_at_b() {
    two_sites(true);
}
