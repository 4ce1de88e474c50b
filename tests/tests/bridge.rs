//! The WebSocket bridge of a real node across hosts: `herald node --bridge --dynip` on host 1 of a
//! network-namespace LAN (198.51.100.0/24), other nodes and CLI commands on the other hosts, and WebSocket
//! clients connected from inside the hosts' namespaces: Rust (tungstenite) and Python's `websockets` package
//! as an independent client. Needs root; CI runs it inside its own namespace.

use herald_core::bridge::{
    BridgeCommand, BridgeEvent, CommandError, CommandOk, CommandResult, HistoryQuery, Targets,
};
use herald_core::{AskOutcome, NoAnswer, Payload};
use herald_tests::ws::{BridgeClient, ConnectError};
use herald_tests::{Lan, TempDir};

const HUB: usize = 1;
/// The bridge inside host 1, on its own loopback (the default address).
const LOCAL_BRIDGE: &str = "127.0.0.1:8080";

fn is_peer_event(event: &BridgeEvent, kind: &str, name: &str) -> bool {
    let (peer, this_kind) = match event {
        BridgeEvent::PeerJoined { peer, .. } => (peer, "joined"),
        BridgeEvent::PeerChanged { peer, .. } => (peer, "changed"),
        BridgeEvent::PeerLeft { peer, .. } => (peer, "left"),
        BridgeEvent::PeerLost { peer, .. } => (peer, "lost"),
        _ => return false,
    };
    this_kind == kind && peer.name == name
}

fn text(payload: &str) -> Payload {
    Payload::from(payload)
}

#[test]
fn a_browser_client_watches_publishes_asks_and_reads_history_through_a_node() {
    let lan = Lan::new(3);
    let dir = TempDir::new("bridge");
    let db = dir.join("hub.db");
    let _hub = lan.node(HUB, "hub", &["--bridge", "--dynip", "--db", &db]);
    let mut client = BridgeClient::connect_when_up(&lan, HUB, LOCAL_BRIDGE, "");
    let snapshot = client.wait_for("the snapshot", |e| matches!(e, BridgeEvent::Snapshot(_)));
    let BridgeEvent::Snapshot(snapshot) = snapshot else {
        unreachable!()
    };
    assert_eq!(snapshot.node.name, "hub");
    assert!(snapshot.node.services.contains_key("dynip"));

    // A peer on another host joins: a live event, and then the IP log has its address (from discovery).
    let mut bravo = lan.node(2, "bravo", &["--subscribe", "news"]);
    client.wait_for("bravo joined", |e| is_peer_event(e, "joined", "bravo"));
    client.wait_for("bravo's subscription", |e| match e {
        BridgeEvent::PeerJoined { peer, .. } | BridgeEvent::PeerChanged { peer, .. } => {
            peer.name == "bravo" && peer.topics.iter().any(|t| t == "news")
        }
        _ => false,
    });
    client.wait_for("bravo's address logged", |e| {
        matches!(e, BridgeEvent::IpChanged(c) if c.host == "bravo" && c.new_ip.to_string() == Lan::ip(2))
    });
    let history = client.request(BridgeCommand::History(HistoryQuery {
        host: Some("bravo".into()),
        from_ms: None,
        to_ms: None,
        offset: 0,
        limit: 10,
    }));
    let CommandResult::Ok(CommandOk::History(page)) = history else {
        panic!("history failed: {history:?}")
    };
    assert_eq!(page.total, 1);
    assert_eq!(page.periods[0].ip.to_string(), Lan::ip(2));

    // Publish from the browser side reaches the subscriber on host 2.
    let published = client.request(BridgeCommand::Publish {
        topic: "news".into(),
        payload: text("from the browser"),
    });
    assert_eq!(
        published,
        CommandResult::Ok(CommandOk::Published {
            topic: "news".into(),
            subscribers: 1
        })
    );
    bravo.wait_for("the browser's message", |e| {
        matches!(e, BridgeEvent::Message(m) if m.payload.as_text() == Some("from the browser") && m.from_name == "hub")
    });

    // And a CLI publisher on host 3 reaches the browser, on a pattern only the browser subscribed to.
    let subscribed = client.request(BridgeCommand::Subscribe {
        topic: "chat.*".into(),
    });
    assert_eq!(
        subscribed,
        CommandResult::Ok(CommandOk::Subscribed {
            topic: "chat.*".into()
        })
    );
    let published = lan.run(
        3,
        &[
            "publish",
            "chat.room",
            "hello browser",
            "--interface",
            "eth0",
            "--subscribers",
            "1",
            "--wait",
            "15",
        ],
    );
    assert!(published.status.success(), "{published:?}");
    let message = client.wait_for("the CLI's message", |e| {
        matches!(e, BridgeEvent::Message(_))
    });
    let BridgeEvent::Message(message) = message else {
        unreachable!()
    };
    assert_eq!(message.topic.as_deref(), Some("chat.room"));
    assert_eq!(message.payload.as_text(), Some("hello browser"));

    // Ask bravo (built-in answer) and a ghost: the reply first, then one answer each, then the final map.
    let asked = client.request(BridgeCommand::Ask {
        targets: Targets::names(["bravo", "ghost"]),
        question: text("ping"),
        timeout_ms: 5000,
    });
    let CommandResult::Ok(CommandOk::Asked { question_id }) = asked else {
        panic!("ask failed: {asked:?}")
    };
    for name in ["bravo", "ghost"] {
        client.wait_for(&format!("{name}'s answer"), |e| {
            matches!(e, BridgeEvent::Answer { question_id: q, peer, .. } if *q == question_id && peer == name)
        });
    }
    let done = client.wait_for("ask_done", |e| matches!(e, BridgeEvent::AskDone { .. }));
    let BridgeEvent::AskDone { outcomes, .. } = done else {
        unreachable!()
    };
    assert!(
        matches!(&outcomes["bravo"], AskOutcome::Answered { payload, .. } if payload.as_text() == Some("pong")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes["ghost"],
        AskOutcome::NoAnswer(NoAnswer::UnknownPeer)
    );

    // Peers, stats, and a command error that names the problem.
    let peers = client.request(BridgeCommand::Peers);
    assert!(
        matches!(&peers, CommandResult::Ok(CommandOk::Peers { peers }) if peers.iter().any(|p| p.name == "bravo"))
    );
    let stats = client.request(BridgeCommand::Stats);
    let CommandResult::Ok(CommandOk::Stats(stats)) = stats else {
        panic!("stats failed: {stats:?}")
    };
    assert!(stats.counters.contains_key("bridge.clients"));
    assert!(stats.counters.contains_key("dynip.rejected.busy"));
    // Watched stats come every second with their time and the node's open links (the ask opened one to bravo).
    let watching = client.request(BridgeCommand::WatchStats { on: true });
    assert!(
        matches!(watching, CommandResult::Ok(CommandOk::Stats(_))),
        "{watching:?}"
    );
    let pushed = client.wait_for(
        "pushed stats",
        |e| matches!(e, BridgeEvent::Stats(stats) if stats.at_ms > 0 && !stats.links.is_empty()),
    );
    let BridgeEvent::Stats(pushed) = pushed else {
        unreachable!()
    };
    assert!(pushed.links.iter().all(|link| link.sent > 0), "{pushed:?}");
    let bad = client.request(BridgeCommand::Subscribe {
        topic: "bad topic!".into(),
    });
    assert!(
        matches!(bad, CommandResult::Error(CommandError::BadRequest { .. })),
        "{bad:?}"
    );

    // The peer leaves: a live event.
    bravo.stop();
    client.wait_for("bravo left", |e| is_peer_event(e, "left", "bravo"));
}

/// A Python `websockets` client (Debian's `python3-websockets`, hence `/usr/bin/python3`;  an implementation independent of ours): prints the snapshot's node name and
/// the reply to `peers`.
const PYTHON_CLIENT: &str = r#"
import asyncio, json, sys
import websockets

async def main(url):
    async with websockets.connect(url) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot", snapshot
        await ws.send(json.dumps({"id": 41, "type": "peers"}))
        await ws.send("{not json")
        replies = {}
        while len(replies) < 2:
            event = json.loads(await ws.recv())
            if event["type"] == "reply":
                replies[event["id"]] = event["result"]
        names = sorted(p["name"] for p in replies[41]["ok"]["peers"])
        print(snapshot["node"]["name"], ",".join(names), replies[None]["error"]["code"])

asyncio.run(main(sys.argv[1]))
"#;

#[test]
fn off_loopback_the_token_and_origin_are_enforced_and_an_independent_client_works() {
    let lan = Lan::new(2);
    let dir = TempDir::new("bridge-token");
    let token_file = dir.join("token");
    let token = "f00dfeedcafebeef0123456789abcdef";
    std::fs::write(&token_file, token).unwrap();
    let bridge_addr = format!("{}:8080", Lan::ip(HUB));
    let _hub = lan.node(
        HUB,
        "hub",
        &["--bridge", &bridge_addr, "--bridge-token-file", &token_file],
    );
    let _other = lan.node(2, "other", &[]);
    let with_token = format!("?token={token}");
    // From host 2, across the LAN.
    let mut client = BridgeClient::connect_when_up(&lan, 2, &bridge_addr, &with_token);
    let snapshot = client.wait_for("the snapshot", |e| matches!(e, BridgeEvent::Snapshot(_)));
    let BridgeEvent::Snapshot(snapshot) = snapshot else {
        unreachable!()
    };
    if !snapshot.peers.iter().any(|p| p.name == "other") {
        client.wait_for("other joined", |e| is_peer_event(e, "joined", "other"));
    }
    let refused = |query: &str, origin: Option<&str>| match BridgeClient::connect(
        &lan,
        2,
        &bridge_addr,
        query,
        origin,
    ) {
        Err(ConnectError::Status(status)) => status,
        Err(err) => panic!("unexpected {err:?}"),
        Ok(_) => 101,
    };
    assert_eq!(refused("", None), 401);
    assert_eq!(refused("?token=guess", None), 401);
    assert_eq!(refused(&with_token, Some("http://evil.example")), 403);
    let own_origin = format!("http://{bridge_addr}");
    assert_eq!(refused(&with_token, Some(&own_origin)), 101);
    // Malformed frames get an error reply and the connection stays up.
    client.send_text("{\"id\": 5, \"type\": \"launch\"}");
    let reply = client.wait_for(
        "the error reply",
        |e| matches!(e, BridgeEvent::Reply(r) if r.id == Some(5)),
    );
    assert!(
        matches!(reply, BridgeEvent::Reply(r) if matches!(r.result, CommandResult::Error(CommandError::BadRequest { .. })))
    );
    assert!(matches!(
        client.request(BridgeCommand::Peers),
        CommandResult::Ok(CommandOk::Peers { .. })
    ));

    let url = format!("ws://{bridge_addr}/ws{with_token}");
    let output = lan
        .command_in(2, "/usr/bin/python3", &["-c", PYTHON_CLIENT, &url])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "hub other bad_request"
    );
}
