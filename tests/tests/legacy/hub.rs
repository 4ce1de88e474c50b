//! The Twisted hub: an old hub client finds a Herald service through `herald node --hub`, and an old active
//! service's registration becomes a `herald lookup` answer (kept across a restart, gone once removed).

use herald_core::bridge::BridgeEvent;
use herald_core::PeerKind;
use herald_tests::{Lan, Running, TempDir};

const HUB: usize = 1;

fn hub_node(lan: &Lan, registry: &str) -> Running {
    lan.node(
        HUB,
        "hub",
        &[
            "--hub",
            "--hub-registry",
            registry,
            "--bridge",
            "127.0.0.1:8080",
        ],
    )
}

/// `herald lookup SERVICE` from host `i`: the providers' addresses.
fn lookup(lan: &Lan, i: usize, service: &str) -> Vec<String> {
    let out = lan.run(
        i,
        &["lookup", service, "--interface", "eth0", "--wait", "1"],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn reply(client: &Running<serde_json::Value>) -> serde_json::Value {
    client.wait_for("the hub's reply", |e| {
        e["event"] == "reply" || e["event"] == "timeout"
    })
}

/// The old active service "ActiveService01" on host 3 (port 8887) registering with the hub (or, with
/// `--remove`, removing itself); the hub's reply.
fn active_service(lan: &Lan, extra: &[&str]) -> serde_json::Value {
    let (hub_ip, service_ip) = (Lan::ip(HUB), Lan::ip(3));
    let mut args = vec![
        "--hub",
        &hub_ip,
        "--service",
        "ActiveService01",
        "--ip",
        &service_ip,
        "--port",
        "8887",
    ];
    args.extend_from_slice(extra);
    reply(&lan.counterpart(3, "hub_service.py", &args))
}

#[test]
fn a_hub_client_finds_herald_services_and_a_hub_registration_is_a_herald_lookup_answer() {
    let lan = Lan::new(3);
    let dir = TempDir::new("legacy-hub");
    let registry = dir.join("registry.json");
    let mut hub = hub_node(&lan, &registry);
    let _web = lan.node(2, "web-node", &["--service", "web=8080"]);
    hub.wait_for(
        "web-node joined",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "web-node"),
    );
    let hub_ip = Lan::ip(HUB);

    // A client asking the group, as the old client does: a Herald node's service.
    let client = lan.counterpart(
        3,
        "hub_client.py",
        &[
            "--hub",
            &hub_ip,
            "--service",
            "web",
            "--group-send",
            "--iface-ip",
            &Lan::ip(3),
        ],
    );
    let answer = reply(&client);
    assert_eq!(answer["raw"], format!("web:{}:8080", Lan::ip(2)));
    assert_eq!(answer["active"], true);
    // A miss gets the old reply.
    let client = lan.counterpart(
        3,
        "hub_client.py",
        &["--hub", &hub_ip, "--service", "nothing"],
    );
    let answer = reply(&client);
    assert_eq!(answer["raw"], "Active Service Exception: nothing null:null");
    assert_eq!(answer["active"], false);

    // An old active service registers; Herald sees it as a twisted-hub peer and a service.
    let service_ip = Lan::ip(3);
    assert_eq!(active_service(&lan, &[])["raw"], "from TwistedHubService ");
    let joined = hub.wait_for(
        "the registered service as a peer",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "ActiveService01"),
    );
    let BridgeEvent::PeerJoined { peer, .. } = joined else {
        unreachable!()
    };
    assert_eq!(peer.kind, PeerKind::TwistedHub);
    assert_eq!(peer.addr.to_string(), service_ip);
    assert_eq!(
        lookup(&lan, 2, "ActiveService01"),
        [format!("{service_ip}:8887")]
    );

    // Garbage is ignored and the hub keeps answering.
    let garbage = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor d in [b'\\xff\\xfe', b'TwistedHubService:x', b'TwistedHubService:a:b:c', b'Hello', b'TwistedUDPClient:' + b'a'*2000]:\n    s.sendto(d,(sys.argv[1],8888))\n";
    let status = lan
        .command_in(2, herald_tests::PYTHON, &["-c", garbage, &hub_ip])
        .status()
        .expect("run python3");
    assert!(status.success());
    // Five datagrams refused: not ASCII, missing fields (two), unknown, a name too long.
    let client = lan.counterpart(2, "hub_client.py", &["--hub", &hub_ip, "--service", "web"]);
    assert_eq!(reply(&client)["active"], true, "the hub still answers");
    assert_eq!(lan.metrics(HUB, 8080)["herald_legacy_hub_rejected"], 5);

    // Kept across a restart.
    hub.stop();
    let hub = hub_node(&lan, &registry);
    hub.wait_for(
        "the registered service again",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "ActiveService01"),
    );
    let client = lan.counterpart(
        2,
        "hub_client.py",
        &["--hub", &hub_ip, "--service", "ActiveService01"],
    );
    assert_eq!(
        reply(&client)["raw"],
        format!("ActiveService01:{service_ip}:8887")
    );

    // Removed: gone from Herald too.
    assert_eq!(
        active_service(&lan, &["--remove"])["raw"],
        "from TwistedHubService service has been removed "
    );
    hub.wait_for(
        "the service leaving",
        |e| matches!(e, BridgeEvent::PeerLeft { peer, .. } if peer.name == "ActiveService01"),
    );
    assert!(lookup(&lan, 2, "ActiveService01").is_empty());
}
