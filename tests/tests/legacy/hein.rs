//! hein: old receivers get what `herald publish` sends through `herald node --hein-serve`, a stalled one does
//! not hold the others back, and an old transmitter's frames reach `herald subscribe` through
//! `herald node --hein-connect`.

use herald_core::bridge::BridgeEvent;
use herald_core::PeerKind;
use herald_tests::{Lan, Running};

const GATEWAY: usize = 1;

fn receiver(lan: &Lan, i: usize, name: &str, extra: &[&str]) -> Running<serde_json::Value> {
    let gateway = Lan::ip(GATEWAY);
    let mut args = vec![
        "--host",
        gateway.as_str(),
        "--port",
        "5005",
        "--name",
        name,
        "--seconds",
        "60",
    ];
    args.extend_from_slice(extra);
    lan.counterpart(i, "hein_receiver.py", &args)
}

fn frame_text(event: &serde_json::Value) -> Option<String> {
    (event["event"] == "frame" && event["kind"] == "raw")
        .then(|| event["body_text"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn hein_receivers_get_herald_messages_and_a_stalled_one_holds_nobody_back() {
    let lan = Lan::new(4);
    let gateway = lan.node(
        GATEWAY,
        "gateway",
        &[
            "--hein-serve",
            "5005=sensors.*",
            "--bridge",
            "127.0.0.1:8080",
        ],
    );
    let fast = receiver(&lan, 2, "fast-rx", &[]);
    let stalled = receiver(&lan, 3, "stalled-rx", &["--no-ack-after", "1"]);
    for name in ["fast-rx", "stalled-rx"] {
        let joined = gateway.wait_for(
            "a hein receiver as a peer",
            |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == name),
        );
        let BridgeEvent::PeerJoined { peer, .. } = joined else {
            unreachable!()
        };
        assert_eq!(peer.kind, PeerKind::HeinReceiver);
    }
    fast.wait_for("the fast receiver connected", |e| e["event"] == "connected");

    let mut publisher = lan.publisher(4, "sensors.kitchen", 1);
    publisher.feed("21.5 C");
    let first = fast.wait_for("the first frame", |e| frame_text(e).is_some());
    assert_eq!(first["tag"], "sensors.kitchen");
    assert_eq!(first["flag"], "0");
    assert_eq!(frame_text(&first).unwrap(), "21.5 C");
    stalled.wait_for("the stalled receiver's first frame", |e| {
        frame_text(e).is_some()
    });

    // The stalled receiver stops acknowledging; the fast one still gets every message, in order, burst after
    // burst (each within the per-receiver queue), while the stalled one's queue overflows.
    let expected: Vec<String> = (0..2000).map(|i| format!("reading {i}")).collect();
    for burst in expected.chunks(500) {
        for text in burst {
            publisher.feed(text);
        }
        for text in burst {
            let got = fast.wait_for("the next frame", |e| frame_text(e).is_some());
            assert_eq!(&frame_text(&got).unwrap(), text);
        }
    }
    assert!(publisher.finish_input().success());
    let stalled_got = std::iter::from_fn(|| stalled.try_take(|e| frame_text(e).is_some())).count();
    assert!(
        stalled_got < expected.len(),
        "the stalled receiver got {stalled_got}"
    );
    // What the stalled one lost is counted: of the 2,000 messages, what it did not get is still queued (its
    // queue, 1,024 frames, is full by now) or was dropped.
    let counters = lan.metrics(GATEWAY, 8080);
    let dropped = counters["herald_legacy_hein_dropped_for_slow"];
    assert!(dropped > 0 && dropped <= 2000 - 1024, "dropped {dropped}");
    assert_eq!(counters["herald_legacy_hein_receivers"], 2);

    // A receiver that goes away leaves the peer table.
    drop(fast);
    gateway.wait_for(
        "the fast receiver leaving",
        |e| matches!(e, BridgeEvent::PeerLeft { peer, .. } if peer.name == "fast-rx"),
    );
}

#[test]
fn a_hein_transmitters_frames_reach_herald_subscribe() {
    let lan = Lan::new(3);
    // The third is what a real hein transmitter sends for a string with a quote: invalid JSON, which hein's
    // own receiver dies on; the gateway counts and skips it.
    let sends = [
        r#"{"raw": "hello raw", "tag": "T1"}"#,
        r#"{"jsn": {"a": 1, "b": [1.5, null, true, "h\u00e9"]}, "tag": "J"}"#,
        r#"{"jsn": "say \"hi\"", "tag": "Q"}"#,
    ];
    let transmitter = lan.counterpart(
        2,
        "hein_transmitter.py",
        &[
            "--port",
            "5006",
            "--send",
            sends[0],
            "--send",
            sends[1],
            "--send",
            sends[2],
            "--interval-ms",
            "200",
            "--seconds",
            "40",
        ],
    );
    let hein = format!("{}:5006=hein.in", Lan::ip(2));
    let _gateway = lan.node(
        GATEWAY,
        "gateway",
        &["--hein-connect", &hein, "--hein-name", "herald-gw"],
    );
    let registered =
        transmitter.wait_for("the gateway as a receiver", |e| e["event"] == "receiver");
    assert_eq!(registered["name"], "herald-gw");

    let subscriber = lan.spawn(
        3,
        &[
            "subscribe",
            "hein.in",
            "--interface",
            "eth0",
            "--count",
            "6",
            "--json",
        ],
    );
    // Two whole rounds of the transmitter's lines (raw twice, JSON between): the bad line in between was skipped.
    let mut raw = 0;
    let mut json = false;
    while raw < 2 || !json {
        let event = subscriber.wait_for("a frame republished", |e| {
            matches!(e, BridgeEvent::Message(_))
        });
        let BridgeEvent::Message(message) = event else {
            unreachable!()
        };
        assert_eq!(message.from_name, "gateway");
        match message.payload.as_text().unwrap() {
            "hello raw" => raw += 1,
            text => {
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                assert_eq!(
                    value,
                    serde_json::json!({"a": 1, "b": [1.5, null, true, "h\u{e9}"]})
                );
                json = true;
            }
        }
    }
}
