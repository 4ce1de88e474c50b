//! Messaging across hosts: `herald` processes in network namespaces joined by a bridge (198.51.100.0/24), on
//! the default group and port, each on its host's `eth0`. Publishers are `herald publish TOPIC -`, fed one
//! message per stdin line, so a test decides when each message goes. Needs root; CI runs it inside its own
//! namespace. Waits on events with generous timeouts; no durations asserted.

use herald_core::bridge::BridgeEvent;
use herald_tests::{Lan, Running};

fn node(lan: &Lan, i: usize, extra: &[&str]) -> Running {
    lan.node(i, &format!("host{i}"), extra)
}

fn message_text(event: &BridgeEvent) -> Option<&str> {
    match event {
        BridgeEvent::Message(m) => m.payload.as_text(),
        _ => None,
    }
}

/// The next message `node` printed.
fn next_message(node: &Running) -> String {
    let event = node.wait_for("a message", |e| message_text(e).is_some());
    message_text(&event).unwrap().to_owned()
}

#[test]
fn one_publisher_reaches_five_subscribers_in_order_even_those_started_first() {
    let lan = Lan::new(6);
    // Every subscriber is up before the publisher exists.
    let subscribers: Vec<Running> = (2..=6)
        .map(|i| node(&lan, i, &["--subscribe", "news.*"]))
        .collect();
    let mut publisher = lan.publisher(1, "news.local", 5);
    let expected: Vec<String> = (0..300).map(|i| format!("item {i}")).collect();
    for text in &expected {
        publisher.feed(text);
    }
    assert!(publisher.finish_input().success());
    for (i, subscriber) in subscribers.iter().enumerate() {
        let got: Vec<String> = expected.iter().map(|_| next_message(subscriber)).collect();
        assert_eq!(got, expected, "host{} got every message in order", i + 2);
    }
}

#[test]
fn a_killed_subscriber_that_restarts_receives_again() {
    let lan = Lan::new(3);
    let mut victim = node(&lan, 2, &["--subscribe", "news"]);
    let steady = node(&lan, 3, &["--subscribe", "news"]);
    let mut publisher = lan.publisher(1, "news", 2);
    publisher.feed("before");
    assert_eq!(next_message(&victim), "before");
    assert_eq!(next_message(&steady), "before");

    victim.kill();
    let victim = node(&lan, 2, &["--subscribe", "news"]);
    // The publisher learns of the new run from its beacons and opens a new link; until then messages to
    // the old run are lost with it. Publish until the restarted subscriber has one.
    let mut sent = Vec::new();
    let mut first_after = None;
    for k in 0..100 {
        let text = format!("after {k}");
        publisher.feed(&text);
        sent.push(text);
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(event) = victim.try_take(|e| message_text(e).is_some()) {
            first_after = message_text(&event).map(str::to_owned);
            break;
        }
    }
    let first_after = first_after.expect("the restarted subscriber never received");
    assert!(sent.contains(&first_after));
    // The steady subscriber lost nothing meanwhile, in order.
    for text in &sent {
        assert_eq!(&next_message(&steady), text);
    }
    assert!(publisher.finish_input().success());
}

#[test]
fn a_stalled_subscriber_does_not_slow_the_others_and_is_told_what_it_missed() {
    let lan = Lan::new(4);
    let fast = [2, 3].map(|i| node(&lan, i, &["--subscribe", "bulk"]));
    // A stopped process sends no beacons: with the usual heartbeat the publisher would soon count it lost
    // and close its link. A slow heartbeat keeps it a live, merely slow, subscriber for this test.
    let stalled = lan.spawn(
        4,
        &[
            "node",
            "--name",
            "host4",
            "--interface",
            "eth0",
            "--heartbeat",
            "10000",
            "--json",
            "--subscribe",
            "bulk",
        ],
    );
    let mut publisher = lan.publisher(1, "bulk", 3);
    publisher.feed("hello");
    for s in fast.iter().chain([&stalled]) {
        assert_eq!(next_message(s), "hello");
    }
    stalled.signal("STOP");
    // Far more than the stalled host's socket buffers and link queue hold (about 20 MB), fed in chunks that
    // the live subscribers take in turn, so only the stalled one falls behind.
    let filler = "x".repeat(1000);
    let (chunks, chunk) = (40, 1000);
    for c in 0..chunks {
        for k in c * chunk..(c + 1) * chunk {
            publisher.feed(&format!("{k} {filler}"));
        }
        for s in &fast {
            for k in c * chunk..(c + 1) * chunk {
                let text = next_message(s);
                assert!(
                    text.starts_with(&format!("{k} ")),
                    "expected message {k}, got {text:.20}"
                );
            }
        }
    }
    stalled.signal("CONT");
    // Every message reaches each subscriber or is counted in a notice to it: received + missed = sent. The
    // live ones received every message in order (above) and were told of no gap.
    let sent = (chunks * chunk) as u64;
    for (s, i) in fast.iter().zip([2, 3]) {
        let notice = s.try_take(|e| dropped_count(e).is_some());
        assert!(notice.is_none(), "host{i} was told of a gap: {notice:?}");
    }
    // The stalled one now reads the rest: what was kept, in order, and notices for what was dropped, up to
    // the last message (drop-oldest keeps the newest).
    let (mut received, mut missed, mut previous) = (0u64, 0u64, None);
    while previous != Some(sent - 1) {
        let event = stalled.wait_for("a message or a missed-messages notice", |e| {
            message_text(e).is_some() || dropped_count(e).is_some()
        });
        if let Some(count) = dropped_count(&event) {
            missed += count;
            continue;
        }
        let text = message_text(&event).unwrap();
        let k: u64 = text
            .split(' ')
            .next()
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("not a numbered message: {text:.20}"));
        assert!(
            previous.is_none_or(|p| k > p),
            "message {k} after {previous:?}"
        );
        previous = Some(k);
        received += 1;
    }
    assert!(missed > 0, "the stalled subscriber never fell behind");
    assert_eq!(
        received + missed,
        sent,
        "received {received} and told of {missed} missed"
    );
    assert!(publisher.finish_input().success());
}

/// The count in a missed-messages notice (`"PUBLISHER dropped N messages on TOPIC ..."`).
fn dropped_count(event: &BridgeEvent) -> Option<u64> {
    match event {
        BridgeEvent::NodeError { message, .. } if message.contains(" dropped ") => Some(
            message
                .split_whitespace()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count in {message:?}")),
        ),
        _ => None,
    }
}

#[test]
fn ask_and_send_from_the_cli_reach_running_nodes() {
    let lan = Lan::new(4);
    let quick = node(&lan, 2, &[]);
    let slow = node(&lan, 3, &["--answer-with", "sleep 10"]);
    let shouter = node(&lan, 4, &["--answer-with", "tr a-z A-Z"]);
    let _ = (&slow, &shouter);
    let ask = |args: &[&str]| {
        let mut full = vec!["ask", "--interface", "eth0"];
        full.extend_from_slice(args);
        let out = lan.run(1, &full);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        (out.status.success(), json)
    };
    let (ok, answers) = ask(&[
        "--to",
        "host2",
        "--to",
        "host3",
        "--to",
        "ghost",
        "--timeout",
        "1",
        "ping",
    ]);
    assert_eq!(
        answers,
        serde_json::json!({"host2": "pong", "host3": null, "ghost": null})
    );
    assert!(!ok, "not every name answered");
    let (_, outcomes) = ask(&[
        "--to",
        "host3",
        "--to",
        "ghost",
        "--timeout",
        "1",
        "--json",
        "ping",
    ]);
    assert_eq!(
        outcomes,
        serde_json::json!({"host3": {"no_answer": "timeout"}, "ghost": {"no_answer": "unknown_peer"}})
    );
    let (ok, answers) = ask(&["--to", "host4", "shout this"]);
    assert_eq!(answers, serde_json::json!({"host4": "SHOUT THIS"}));
    assert!(ok);

    let out = lan.run(
        1,
        &[
            "send",
            "--to",
            "host2",
            "--interface",
            "eth0",
            "hello host2",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let event = quick.wait_for("the direct message", |e| {
        message_text(e) == Some("hello host2")
    });
    let BridgeEvent::Message(message) = event else {
        unreachable!()
    };
    assert_eq!(message.topic, None, "a direct message has no topic");
    let out = lan.run(1, &["send", "--to", "nobody", "--interface", "eth0", "x"]);
    assert!(!out.status.success(), "an unknown name is an error");
}
