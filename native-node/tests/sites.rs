//! Two sites on loopback joined through a real `nats-server` (127.0.0.1, a free port): each "site" is a group
//! port of its own with a gateway node and a plain node. Topics, peers, lookups, direct messages and questions
//! cross; when the server dies the other site's peers go `lost`, and come back when it restarts.
//! (The same across network namespaces, with a hub and a leaf node, is in the top-level `tests/`.)

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{config, PATIENCE};
use futures::StreamExt;
use herald_core::bridge::PeerState;
use herald_node::discovery::peers::PeerChange;
use herald_node::sites::{SiteConfig, SiteGateway};
use herald_node::{AskOutcome, Delivery, IncomingQuestion, NoAnswer, Node, NodeEvent, Payload};

/// A `nats-server` on 127.0.0.1:`port` (returned once it takes connections), killed when dropped.
struct NatsServer(Child);

impl NatsServer {
    fn start(port: u16) -> NatsServer {
        NatsServer::with(port, &[])
    }

    /// With extra command-line options (`--auth TOKEN`, `--user U --pass P`).
    fn with(port: u16, options: &[&str]) -> NatsServer {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (cargo xtask setup installs it)");
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer(child)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `check` holds, polling.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let done = tokio::time::timeout(PATIENCE * 2, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    done.await.unwrap_or_else(|_| panic!("never: {what}"));
}

fn counter(node: &Node, name: &str) -> u64 {
    node.stats().counters.get(name).copied().unwrap_or(0)
}

struct Site {
    gateway: SiteGateway,
    gateway_node: Arc<Node>,
    node: Node,
}

async fn site(name: &str, nats: u16) -> Site {
    site_with(name, nats, |_| {}).await
}

/// A site whose gateway's configuration `tweak` changed.
async fn site_with(name: &str, nats: u16, tweak: impl FnOnce(&mut SiteConfig)) -> Site {
    let port = common::port(36000);
    let gateway_node = Arc::new(
        Node::start(config(&format!("gw-{name}"), port))
            .await
            .unwrap(),
    );
    let mut site = SiteConfig::new(name, format!("nats://127.0.0.1:{nats}"));
    site.heartbeat = Duration::from_millis(300);
    tweak(&mut site);
    let gateway = SiteGateway::start(gateway_node.clone(), site)
        .await
        .unwrap();
    let node = Node::start(config(&format!("{name}1"), port))
        .await
        .unwrap();
    Site {
        gateway,
        gateway_node,
        node,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_share_peers_topics_and_questions_and_survive_a_nats_restart() {
    let nats_port = free_port();
    let mut server = Some(NatsServer::start(nats_port));
    let a = site("a", nats_port).await;
    a.node.advertise("web", 8080);
    a.node.answer_with(|q: IncomingQuestion| async move {
        Ok(Payload::from(format!(
            "a1 heard {}",
            q.payload.as_text().unwrap_or("?")
        )))
    });
    let b = site("b", nats_port).await;
    let mut b_readings = b.node.subscription("sensors.*").unwrap();

    // Peers across sites: B's node at A, with its site, and the other way round; a lookup at B finds A's web.
    eventually("a1 sees b1@b", || a.node.peer("b1@b").is_some()).await;
    let b1 = a.node.peer("b1").expect("the only b1 anywhere");
    assert_eq!(b1.site.as_deref(), Some("b"));
    assert_eq!(b1.via, Some(a.gateway_node.id()));
    assert_eq!(
        b1.node_id,
        b.node.id(),
        "a remote peer keeps its real node id"
    );
    eventually("b sees a's web service", || {
        !b.node.lookup("web").is_empty()
    })
    .await;
    assert_eq!(
        b.node.lookup("web"),
        vec![std::net::SocketAddr::new(a.node.local_ip().into(), 8080)],
        "the provider's own address"
    );

    // Topics: a publish at A reaches B's subscriber, once, once B's interest is known at A.
    eventually("a's gateway carries sensors.* for b", || {
        a.node
            .subscribers("sensors.kitchen")
            .contains(&"gw-a".to_owned())
    })
    .await;
    a.node.publish("sensors.kitchen", "21.5 C").await.unwrap();
    let got = tokio::time::timeout(PATIENCE, b_readings.next())
        .await
        .expect("the message crossed")
        .unwrap();
    let Delivery::Message(message) = got else {
        panic!("{got:?}")
    };
    assert_eq!(message.topic.as_deref(), Some("sensors.kitchen"));
    assert_eq!(message.text(), Some("21.5 C"));
    assert_eq!(message.from_name, "a1@a", "in the sender's name");
    assert_eq!(message.from, a.node.id());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), b_readings.next())
            .await
            .is_err(),
        "no duplicate"
    );
    // A burst (longer than the gateways' runs of ready messages) arrives whole, in order, in the sender's name.
    const BURST: usize = 2000;
    for i in 0..BURST {
        a.node
            .publish("sensors.burst", i.to_string())
            .await
            .unwrap();
    }
    for i in 0..BURST {
        let got = tokio::time::timeout(PATIENCE, b_readings.next())
            .await
            .unwrap_or_else(|_| panic!("message {i} of the burst crossed"))
            .unwrap();
        let Delivery::Message(message) = got else {
            panic!("{got:?}")
        };
        assert_eq!(message.text(), Some(i.to_string().as_str()));
        assert_eq!(
            (message.from, message.from_name.as_str()),
            (a.node.id(), "a1@a")
        );
    }

    // Questions and direct messages: B asks A's node and a ghost; B sends A's node a message.
    eventually("b sees a1@a", || b.node.peer("a1@a").is_some()).await;
    let outcomes = b
        .node
        .ask(
            vec!["a1@a".to_owned(), "ghost".to_owned()],
            "ping?",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    match &outcomes["a1@a"] {
        AskOutcome::Answered { payload, .. } => {
            assert_eq!(payload.as_text(), Some("a1 heard ping?"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outcomes["ghost"],
        AskOutcome::NoAnswer(NoAnswer::UnknownPeer)
    );
    // The other site's gateway answers for itself (its built-in `ping`).
    let gateway = b
        .node
        .ask("gw-a@a", "ping", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        gateway["gw-a@a"].payload().and_then(|p| p.as_text()),
        Some("pong"),
        "{gateway:?}"
    );
    let mut a_events = a.node.events();
    b.node.send("a1", "hello from b").await;
    let direct = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(NodeEvent::Message(m)) = a_events.next().await {
                if m.topic.is_none() {
                    return m;
                }
            }
        }
    })
    .await
    .expect("the direct message crossed");
    assert_eq!(direct.payload.as_text(), Some("hello from b"));

    // NATS dies: each site keeps its own peers, the other site's go lost; NATS back: they come back.
    let mut a_events = a.node.events();
    server.take();
    let lost = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(NodeEvent::Peer(e)) = a_events.next().await {
                if e.peer.name == "b1" && e.change == PeerChange::Lost {
                    return e.peer;
                }
            }
        }
    })
    .await
    .expect("b1 lost at a");
    assert_eq!(lost.state, PeerState::Lost);
    assert!(
        a.node.peer("gw-a").is_some(),
        "site a still sees its own peers"
    );
    // Published meanwhile: held (bounded), counted if pushed out, sent after the reconnect.
    server = Some(NatsServer::start(nats_port));
    eventually("b1 back at a", || a.node.peer("b1@b").is_some()).await;
    assert!(counter(&a.gateway_node, "nats.disconnects") >= 1);
    assert!(counter(&a.gateway_node, "nats.remote_lost") >= 1);

    for site in [a, b] {
        site.gateway.shutdown().await;
        site.node.shutdown().await;
        Arc::try_unwrap(site.gateway_node)
            .ok()
            .unwrap()
            .shutdown()
            .await;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_nats_clients_garbage_and_a_second_gateway() {
    let nats_port = free_port();
    let _server = NatsServer::start(nats_port);
    let a = site("a", nats_port).await;
    let mut chat = a.node.subscription("chat").unwrap();
    let client = async_nats::connect(format!("nats://127.0.0.1:{nats_port}"))
        .await
        .unwrap();
    let mut from_herald = client.subscribe("herald.v1.t.news.>").await.unwrap();
    client.flush().await.unwrap();

    // A plain client's publish reaches a Herald subscriber at A (in the gateway's name).
    eventually("a's gateway subscribed to chat on NATS", || {
        counter(&a.gateway_node, "nats.published") > 0
    })
    .await;
    let delivered = tokio::time::timeout(PATIENCE, async {
        loop {
            client
                .publish("herald.v1.t.chat", "from nats".into())
                .await
                .unwrap();
            if let Ok(Some(Delivery::Message(m))) =
                tokio::time::timeout(Duration::from_millis(300), chat.next()).await
            {
                return m;
            }
        }
    })
    .await
    .expect("a plain NATS publish reached a Herald subscriber");
    assert_eq!(delivered.text(), Some("from nats"));
    assert_eq!(delivered.from_name, "gw-a");

    // A plain client's subscription makes no Herald peer want `news.*`; a site that does gets it out. Here
    // a peer list from a fake site "p" announces the interest, as a plain client may.
    let fake = serde_json::json!({
        "site": "p", "gateway": "00000000000000000000000000000009", "started_ms": 1, "heartbeat_ms": 60000,
        "peers": [{"node_id": "00000000000000000000000000000009", "name": "listener", "kind": "herald",
                   "addr": "127.0.0.9", "tcp": null, "services": {}, "topics": ["news.*"], "via": null,
                   "first_seen_ms": 1, "last_seen_ms": 1, "state": "live"}]
    });
    client
        .publish(
            "herald.v1.peers.p",
            serde_json::to_vec(&fake).unwrap().into(),
        )
        .await
        .unwrap();
    eventually("listener@p at a", || a.node.peer("listener@p").is_some()).await;
    // The same name at a second site: a plain name is ambiguous, and says so.
    let mut twin = fake.clone();
    twin["site"] = "q".into();
    twin["gateway"] = "00000000000000000000000000000010".into();
    twin["peers"][0]["node_id"] = "00000000000000000000000000000011".into();
    client
        .publish(
            "herald.v1.peers.q",
            serde_json::to_vec(&twin).unwrap().into(),
        )
        .await
        .unwrap();
    eventually("listener@q at a", || a.node.peer("listener@q").is_some()).await;
    assert_eq!(a.node.peer("listener"), None);
    assert_eq!(a.node.candidates("listener"), ["listener@p", "listener@q"]);
    let sent = a.node.send("listener", "hi").await;
    assert_eq!(
        sent["listener"],
        herald_node::SendOutcome::NotQueued("ambiguous: listener@p, listener@q".into())
    );
    eventually("a's gateway carries news.* out", || {
        a.node
            .subscribers("news.today")
            .contains(&"gw-a".to_owned())
    })
    .await;
    a.node.publish("news.today", "headline").await.unwrap();
    let out = tokio::time::timeout(PATIENCE, from_herald.next())
        .await
        .expect("a Herald publish reached a plain NATS subscriber")
        .unwrap();
    assert_eq!(&out.payload[..], b"headline");
    let headers = out.headers.expect("a Herald-From header");
    // `Herald-From: <site> <node-id> <name>`, the one header naming the sender.
    assert_eq!(
        headers.get("Herald-From").map(|v| v.as_str().to_owned()),
        Some(format!("a {} a1", a.node.id()))
    );
    assert_eq!(headers.iter().count(), 1, "{headers:?}");

    // Garbage on Herald subjects is counted and skipped.
    let before = counter(&a.gateway_node, "nats.bad_input");
    client
        .publish("herald.v1.peers.q", "not json".into())
        .await
        .unwrap();
    client
        .publish("herald.v1.direct.a.nothex", "x".into())
        .await
        .unwrap();
    eventually("garbage counted", || {
        counter(&a.gateway_node, "nats.bad_input") >= before + 2
    })
    .await;

    // A second gateway for site a started later stands down with a clear error; the first carries on.
    let port = common::port(36000);
    let second_node = Arc::new(Node::start(config("gw-a2", port)).await.unwrap());
    let mut second = SiteConfig::new("a", format!("nats://127.0.0.1:{nats_port}"));
    second.heartbeat = Duration::from_millis(300);
    let mut second = SiteGateway::start(second_node.clone(), second)
        .await
        .unwrap();
    let err = tokio::time::timeout(PATIENCE, second.stopped())
        .await
        .expect("the second gateway stood down")
        .unwrap_err();
    assert!(
        err.to_string().contains("already serves site \"a\""),
        "{err}"
    );
    eventually("the first counted it", || {
        counter(&a.gateway_node, "nats.second_gateway") >= 1
    })
    .await;
    assert!(a.node.peer("listener@p").is_some());

    second.shutdown().await;
    a.gateway.shutdown().await;
    a.node.shutdown().await;
    for node in [a.gateway_node, second_node] {
        Arc::try_unwrap(node).ok().unwrap().shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_authenticate_with_a_token_or_a_user_and_password() {
    use herald_node::sites::NatsAuth;
    for (options, auth) in [
        (vec!["--auth", "s3cret"], NatsAuth::Token("s3cret".into())),
        (
            vec!["--user", "lab", "--pass", "pw"],
            NatsAuth::UserPassword {
                user: "lab".into(),
                password: "pw".into(),
            },
        ),
    ] {
        let nats_port = free_port();
        let _server = NatsServer::with(nats_port, &options);
        let port = common::port(36000);
        let node = Arc::new(Node::start(config("gw-auth", port)).await.unwrap());
        let mut site = SiteConfig::new("a", format!("nats://127.0.0.1:{nats_port}"));
        site.auth = auth.clone();
        let gateway = SiteGateway::start(node.clone(), site).await.unwrap();
        eventually("the gateway connected with its credentials", || {
            counter(&node, "nats.connects") >= 1 && counter(&node, "nats.published") >= 1
        })
        .await;
        gateway.shutdown().await;
        Arc::try_unwrap(node).ok().unwrap().shutdown().await;
    }
}

/// A site flooded with topic messages from NATS (more than its gateway can take in) still speaks for itself:
/// its peer lists keep reaching the other site, which never loses its peers, and questions across still get
/// answers. (The NATS client reads everything that has arrived before it sends; with one connection for both,
/// a flood held the flooded gateway's peer lists back for over a second, and the other site lost its peers.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_topic_messages_into_a_site_does_not_silence_its_gateway() {
    let nats_port = free_port();
    let _server = NatsServer::start(nats_port);
    // Heartbeats of 1 s (silent after 3 s): a loaded test machine's stall is not what this is about.
    let a = site_with("a", nats_port, |config| {
        config.heartbeat = Duration::from_secs(1)
    })
    .await;
    // Room for the whole flood in b's NATS subscription: its client keeps reading and queueing.
    let b = site_with("b", nats_port, |config| {
        config.heartbeat = Duration::from_secs(1);
        config.subscription_capacity = 1 << 22;
    })
    .await;
    b.node
        .answer_with(|_: IncomingQuestion| async move { Ok(Payload::from("here")) });
    let mut flood = b.node.subscription("flood.*").unwrap();
    // b's list announces flood.* only once b's gateway has it on NATS; a's gateway then carries it.
    eventually("a's gateway carries flood.* for b", || {
        a.node.subscribers("flood.x").contains(&"gw-a".to_owned())
    })
    .await;

    // Plain NATS clients publish as fast as they can for four seconds (several of b's silence allowances),
    // with the header a gateway sends (more for b's client to read per message).
    let mut floods = Vec::new();
    for _ in 0..3 {
        let client = async_nats::connect(format!("nats://127.0.0.1:{nats_port}"))
            .await
            .unwrap();
        floods.push(tokio::spawn(async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Herald-From", "c 00112233445566778899aabbccddeeff flooder");
            let until = std::time::Instant::now() + Duration::from_secs(4);
            let mut sent = 0u64;
            while std::time::Instant::now() < until {
                for _ in 0..1000 {
                    let published = client
                        .publish_with_headers(
                            "herald.v1.t.flood.x",
                            headers.clone(),
                            "0123456789abcdef".into(),
                        )
                        .await;
                    if published.is_err() {
                        return sent; // this client closed: the others go on
                    }
                    sent += 1;
                }
            }
            let _ = client.flush().await;
            sent
        }));
    }
    let flooding = tokio::spawn(async move {
        let mut sent = 0;
        for flood in floods {
            sent += flood.await.unwrap();
        }
        sent
    });
    let draining = tokio::spawn(async move { while flood.next().await.is_some() {} });
    let received_before = counter(&b.gateway_node, "nats.received");

    // Meanwhile: b's peers stay at a, and a question from a to b1 is answered.
    let mut asked = 0;
    while !flooding.is_finished() {
        let outcome = a
            .node
            .ask("b1@b", "still there?", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            outcome["b1@b"].payload().and_then(|p| p.as_text()),
            Some("here"),
            "during the flood: {outcome:?}"
        );
        asked += 1;
        assert!(a.node.peer("b1@b").is_some(), "b1@b stays known at a");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = flooding.await.unwrap();
    draining.abort();
    let received = counter(&b.gateway_node, "nats.received") - received_before;
    assert!(
        received > 10_000,
        "the flood reached b's gateway: {received} of {sent}"
    );
    assert!(asked >= 1, "asked during the flood: {asked}");
    assert_eq!(
        counter(&a.gateway_node, "nats.remote_lost"),
        0,
        "a never lost b's peers (flood: {sent} sent, {received} in at b)"
    );
}
