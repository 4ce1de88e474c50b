//! pythonConnect: devices on other hosts meet `herald node --pyconnect` (whichever name is smaller connects),
//! get messages and questions sent with the CLI from a third host through it, and their own messages and
//! questions to the gateway arrive and are answered. Odd input does not hurt the gateway.

use herald_core::bridge::BridgeEvent;
use herald_core::PeerKind;
use herald_tests::{Lan, Running, PYTHON};

const GATEWAY: usize = 1;

fn device(lan: &Lan, i: usize, name: &str, extra: &[&str]) -> Running<serde_json::Value> {
    let ip = Lan::ip(i);
    let mut args = vec!["--name", name, "--bind-ip", ip.as_str(), "--seconds", "60"];
    args.extend_from_slice(extra);
    lan.counterpart(i, "pyconnect_peer.py", &args)
}

fn ask(lan: &Lan, i: usize, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["ask", "--interface", "eth0", "--timeout", "3"];
    full.extend_from_slice(args);
    let out = lan.run(i, &full);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[test]
fn pythonconnect_devices_are_reached_through_the_gateway_and_reach_it() {
    let lan = Lan::new(4);
    let gateway = lan.node(
        GATEWAY,
        "gw",
        &["--pyconnect", "--bridge", "127.0.0.1:8080"],
    );
    // "zulu" > "gw": the gateway connects to it; "alpha" < "gw": it connects to the gateway.
    let zulu = device(
        &lan,
        2,
        "zulu",
        &[
            "--answer",
            "zulu-says-yes",
            "--send-to",
            "gw",
            "--message",
            "hi gw",
            "--ask",
            "gw",
            "--question",
            "ping",
        ],
    );
    let alpha = device(&lan, 4, "alpha", &["--answer", "alpha-says-no"]);
    for name in ["zulu", "alpha"] {
        let joined = gateway.wait_for(
            "a device as a peer",
            |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == name),
        );
        let BridgeEvent::PeerJoined { peer, .. } = joined else {
            unreachable!()
        };
        assert_eq!(peer.kind, PeerKind::Pythonconnect);
        assert!(peer.via.is_some(), "proxied by the gateway");
    }

    // The device's own message and question to the gateway.
    let message = gateway.wait_for(
        "zulu's message",
        |e| matches!(e, BridgeEvent::Message(m) if m.from_name == "zulu"),
    );
    let BridgeEvent::Message(message) = message else {
        unreachable!()
    };
    assert_eq!(message.payload.as_text(), Some("hi gw"));
    assert_eq!(message.topic, None);
    let result = zulu.wait_for("zulu's answer from the gateway", |e| {
        e["event"] == "ask_result"
    });
    assert_eq!(result["answer"], "pong");

    // From a third host, through the gateway: answers per device, and a ghost.
    let answers = ask(
        &lan,
        3,
        &["--to", "zulu", "--to", "alpha", "--to", "ghost", "q1"],
    );
    assert_eq!(
        answers,
        serde_json::json!({"zulu": "zulu-says-yes", "alpha": "alpha-says-no", "ghost": null})
    );
    let question = zulu.wait_for("the question at zulu", |e| e["event"] == "question");
    assert_eq!(question["text"], "q1");
    assert_eq!(question["from"], "gw");
    let out = lan.run(
        3,
        &[
            "send",
            "--to",
            "zulu",
            "--to",
            "alpha",
            "--interface",
            "eth0",
            "hello device",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    for device in [&zulu, &alpha] {
        let got = device.wait_for("the message", |e| e["event"] == "message");
        assert_eq!(got["text"], "hello device");
    }
    // What the old protocol cannot carry is refused with a reason, not sent.
    let long = "x".repeat(600);
    let out = lan.run(3, &["send", "--to", "zulu", "--interface", "eth0", &long]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("zulu"),
        "{out:?}"
    );

    // Odd input: bad adverts on the group, and a connection with an oversized frame and a character split
    // across writes. The gateway carries on.
    let odd = r#"
import socket, struct, sys, time
gw = sys.argv[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[2]))
for d in [b"\xff\xfe:,:x", b"a:,:b:,:c", b"alive", b"alive:,:" + b"n" * 400]:
    u.sendto(d, ("239.255.4.3", 3235))
t = socket.create_connection((gw, 4112), timeout=5)
t.sendall("odd/EOL".encode())
t.sendall("MeSsAgE:,:caf".encode() + b"\xc3")
time.sleep(0.2)
t.sendall(b"\xa9/EOL")
time.sleep(0.2)
t.sendall(b"MeSsAgE:,:" + b"y" * 700)
time.sleep(0.5)
t.close()
"#;
    let status = lan
        .command_in(3, PYTHON, &["-c", odd, &Lan::ip(GATEWAY), &Lan::ip(3)])
        .status()
        .expect("run python3");
    assert!(status.success());
    let split = gateway.wait_for(
        "the message whose character was split",
        |e| matches!(e, BridgeEvent::Message(m) if m.from_name == "odd"),
    );
    let BridgeEvent::Message(split) = split else {
        unreachable!()
    };
    assert_eq!(split.payload.as_text(), Some("caf\u{e9}"));
    let answers = ask(&lan, 3, &["--to", "alpha", "still there?"]);
    assert_eq!(answers, serde_json::json!({"alpha": "alpha-says-no"}));
    // Refused and counted: three bad adverts (not UTF-8, three fields, one field) and the oversized frame;
    // the 400-byte name is cut to the old 256-byte receive size and taken, like the old library would.
    let counters = lan.metrics(GATEWAY, 8080);
    assert_eq!(
        counters["herald_legacy_pyconnect_bad_input"], 4,
        "{counters:?}"
    );
}
