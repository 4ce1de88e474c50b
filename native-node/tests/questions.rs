//! Direct messages, questions and answers, and the publisher's subscriber bound, between nodes in this
//! process over real links (loopback TCP), discovery pinned to 127.0.0.1 on a group port per test.
//! Waits on events with generous timeouts; no durations asserted.

mod common;

use common::{config, PATIENCE};
use std::time::Duration;

use herald_core::frame::RefuseReason;
use herald_node::{
    AskOutcome, Events, IncomingQuestion, NoAnswer, Node, NodeEvent, Payload, SendOutcome, Targets,
};

/// Waits until `node` sees every one of `names` as a live peer.
async fn knows(node: &Node, names: &[&str]) {
    let seen = tokio::time::timeout(PATIENCE, async {
        while !names.iter().all(|n| node.peer(n).is_some()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    seen.await
        .unwrap_or_else(|_| panic!("{} never saw {names:?}", node.name()));
}

/// The next event matching `pick`, other events skipped.
async fn next_matching<T>(events: &mut Events, mut pick: impl FnMut(NodeEvent) -> Option<T>) -> T {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(found) = events.next().await.and_then(&mut pick) {
                return found;
            }
        }
    });
    found.await.expect("the awaited event never came")
}

async fn direct_text(events: &mut Events) -> (String, String) {
    next_matching(events, |e| match e {
        NodeEvent::Message(m) if m.topic.is_none() => {
            Some((m.from_name, m.payload.as_text().unwrap().to_owned()))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn direct_messages_reach_one_a_list_or_all() {
    let port = common::port(34000);
    let sender = Node::start(config("sender", port)).await.unwrap();
    let mut receivers = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let node = Node::start(config(name, port)).await.unwrap();
        let events = node.events();
        receivers.push((node, events));
    }
    knows(&sender, &["ann", "bob", "cy"]).await;

    let sent = sender.send("ann", "to ann").await;
    assert_eq!(sent["ann"], SendOutcome::Queued);
    assert_eq!(
        direct_text(&mut receivers[0].1).await,
        ("sender".into(), "to ann".into())
    );

    let sent = sender.send(["bob", "cy", "zed"], "to a list").await;
    assert_eq!(sent["bob"], SendOutcome::Queued);
    assert_eq!(sent["cy"], SendOutcome::Queued);
    assert_eq!(sent["zed"], SendOutcome::UnknownPeer);
    for (_, events) in &mut receivers[1..] {
        assert_eq!(direct_text(events).await.1, "to a list");
    }

    let sent = sender.send(Targets::All, "to all").await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    for (_, events) in &mut receivers {
        assert_eq!(direct_text(events).await.1, "to all");
    }
    assert_eq!(
        receivers[0].0.stats().counters["messaging.direct_received"],
        2
    );
    for (node, _) in receivers {
        node.shutdown().await;
    }
    sender.shutdown().await;
}

#[tokio::test]
async fn ask_gives_each_name_its_answer_or_the_reason_for_none() {
    let port = common::port(34000);
    let asker = Node::start(config("asker", port)).await.unwrap();
    // Built-in answers only.
    let quick = Node::start(config("quick", port)).await.unwrap();
    let slow = Node::start(config("slow", port)).await.unwrap();
    slow.answer_with(|_q: IncomingQuestion| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Payload::from("too late"))
    });
    let mut slow_events = slow.events();
    knows(&asker, &["quick", "slow"]).await;

    let outcomes = asker
        .ask(["quick", "slow", "ghost"], "ping", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 3);
    match &outcomes["quick"] {
        AskOutcome::Answered { payload, .. } => assert_eq!(payload.as_text(), Some("pong")),
        other => panic!("quick: {other:?}"),
    }
    assert_eq!(outcomes["slow"], AskOutcome::NoAnswer(NoAnswer::Timeout));
    assert_eq!(
        outcomes["ghost"],
        AskOutcome::NoAnswer(NoAnswer::UnknownPeer)
    );
    // The slow handler was stopped at the asker's timeout, and said so.
    next_matching(&mut slow_events, |e| match e {
        NodeEvent::AnswerFailed { from, .. } if from == "asker" => Some(()),
        _ => None,
    })
    .await;

    // `info` reveals the name, version and services; an unknown question fails with the reason.
    let outcomes = asker.ask("quick", "info", PATIENCE).await.unwrap();
    let info = outcomes["quick"]
        .payload()
        .unwrap()
        .as_text()
        .unwrap()
        .to_owned();
    assert!(
        info.contains("\"name\":\"quick\"") && info.contains("version"),
        "{info}"
    );
    let outcomes = asker.ask("quick", "what?", PATIENCE).await.unwrap();
    assert!(
        matches!(&outcomes["quick"], AskOutcome::NoAnswer(NoAnswer::Failed(r)) if r.contains("ping")),
        "{outcomes:?}"
    );
    for node in [quick, slow, asker] {
        node.shutdown().await;
    }
}

// Two workers: a panic's backtrace (with RUST_BACKTRACE=1) is printed on the worker that caught it, and must
// not stall the other nodes' beacons past their expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_panicking_handler_gives_a_failed_answer_and_the_node_lives_on() {
    let port = common::port(34000);
    // A panic's backtrace (RUST_BACKTRACE=1) takes a while to print on a busy machine: peers are given longer
    // than the usual 600 ms to stay alive meanwhile.
    let patient = |name| {
        let mut config = config(name, port);
        config.expiry_beats = 20;
        config
    };
    let asker = Node::start(patient("asker")).await.unwrap();
    let fragile = Node::start(patient("fragile")).await.unwrap();
    fragile.answer_with(|q: IncomingQuestion| async move {
        match q.payload.as_text() {
            Some("fail") => Err("cannot do that".into()),
            Some("panic") => panic!("handler bug"),
            _ => Ok(Payload::from("fine")),
        }
    });
    let mut events = fragile.events();
    knows(&asker, &["fragile"]).await;

    let outcomes = asker.ask("fragile", "fail", PATIENCE).await.unwrap();
    assert_eq!(
        outcomes["fragile"],
        AskOutcome::NoAnswer(NoAnswer::Failed("cannot do that".into()))
    );
    let outcomes = asker.ask("fragile", "panic", PATIENCE).await.unwrap();
    assert!(
        matches!(&outcomes["fragile"], AskOutcome::NoAnswer(NoAnswer::Failed(r)) if r.contains("panicked")),
        "{outcomes:?}"
    );
    for expected in ["cannot do that", "panicked"] {
        let reason = next_matching(&mut events, |e| match e {
            NodeEvent::AnswerFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .await;
        assert!(reason.contains(expected), "{reason}");
    }
    let outcomes = asker
        .ask("fragile", "still there?", PATIENCE)
        .await
        .unwrap();
    assert_eq!(
        outcomes["fragile"].payload().and_then(|p| p.as_text()),
        Some("fine"),
        "{outcomes:?}"
    );
    assert_eq!(fragile.stats().counters["questions.answers_failed"], 2);
    fragile.shutdown().await;
    asker.shutdown().await;
}

#[tokio::test]
async fn a_peer_leaving_mid_question_is_reported_and_outcomes_stream_as_they_come() {
    let port = common::port(34000);
    let asker = Node::start(config("asker", port)).await.unwrap();
    let quick = Node::start(config("quick", port)).await.unwrap();
    let leaver = Node::start(config("leaver", port)).await.unwrap();
    leaver.answer_with(|_q: IncomingQuestion| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(Payload::from("never"))
    });
    knows(&asker, &["quick", "leaver"]).await;
    let mut ask = asker
        .start_ask(["quick", "leaver"], "ping", Duration::from_secs(60))
        .await
        .unwrap();
    match tokio::time::timeout(PATIENCE, ask.next()).await.unwrap() {
        Some(herald_node::AskProgress::Outcome { name, .. }) => assert_eq!(name, "quick"),
        other => panic!("{other:?}"),
    }
    leaver.shutdown().await;
    let outcomes = tokio::time::timeout(PATIENCE, ask.finish()).await.unwrap();
    // The link closing and the leave beacon race; either way the reason is not a timeout.
    match &outcomes["leaver"] {
        AskOutcome::NoAnswer(NoAnswer::PeerLeft) => {}
        AskOutcome::NoAnswer(NoAnswer::Failed(reason)) if reason.contains("link closed") => {}
        other => panic!("leaver: {other:?}"),
    }
    quick.shutdown().await;
    asker.shutdown().await;
}

#[tokio::test]
async fn a_publisher_s_subscriber_bound_refuses_the_extra_one_until_room_frees() {
    let port = common::port(34000);
    let mut c = config("publisher", port);
    c.subscriber_limit = Some(1);
    let publisher = Node::start(c).await.unwrap();
    let mut c = config("first", port);
    c.topics = vec!["news".into()];
    let first = Node::start(c).await.unwrap();
    knows(&publisher, &["first"]).await;
    let mut c = config("second", port);
    c.topics = vec!["news".into()];
    let second = Node::start(c).await.unwrap();
    let mut second_events = second.events();
    let refusal = next_matching(&mut second_events, |e| match e {
        NodeEvent::Refused { from, reason } if from == "publisher" => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(
        refusal,
        RefuseReason::SubscriberLimit {
            topic: "news".into(),
            limit: 1
        }
    );
    assert_eq!(publisher.publish("news", "one").await.unwrap(), 1);
    assert_eq!(
        publisher.stats().counters["messaging.subscribers_refused"],
        1
    );

    // The first subscriber leaves: the second is admitted.
    first.shutdown().await;
    let reached = tokio::time::timeout(PATIENCE, async {
        loop {
            if publisher.peer("first").is_none() {
                return publisher.publish("news", "two").await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(reached, 1);
    let text = next_matching(&mut second_events, |e| match e {
        NodeEvent::Message(m) => Some(m.payload.as_text().unwrap().to_owned()),
        _ => None,
    })
    .await;
    assert_eq!(text, "two", "the refused subscriber never got \"one\"");
    second.shutdown().await;
    publisher.shutdown().await;
}

/// Opens a raw TCP connection to `node`'s link port and completes the handshake without a key.
async fn raw_link(node: &Node) -> tokio::net::TcpStream {
    use herald_core::frame::{encode, Frame, Hello, MAX_FRAME_LEN};
    use herald_core::handshake::{self, HandshakeMessage, Preamble, Security};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = node.info().tcp.expect("the node takes links");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let preamble = HandshakeMessage::Preamble(Preamble {
        security: Security::Plain,
    });
    let hello = Frame::Hello(Hello {
        node_id: herald_node::identity::random_node_id(),
        name: "raw".into(),
        kind: herald_core::PeerKind::Cli,
        software: "test".into(),
    });
    let mut bytes = Vec::new();
    handshake::encode(&preamble, &mut bytes).unwrap();
    encode(&hello, &mut bytes, MAX_FRAME_LEN).unwrap();
    socket.write_all(&bytes).await.unwrap();
    // Their preamble and Hello: each a length prefix and that many bytes.
    for _ in 0..2 {
        let len = socket.read_u32().await.unwrap();
        let mut theirs = vec![0; len as usize];
        socket.read_exact(&mut theirs).await.unwrap();
    }
    socket
}

#[tokio::test]
async fn garbage_and_oversized_frames_mid_stream_are_counted_and_the_node_carries_on() {
    use tokio::io::AsyncWriteExt;
    let port = common::port(34000);
    let target = Node::start(config("target", port)).await.unwrap();
    let asker = Node::start(config("asker", port)).await.unwrap();
    knows(&asker, &["target"]).await;

    let mut garbage = raw_link(&target).await;
    garbage
        .write_all(&[0, 0, 0, 9, 0xEE, 1, 2, 3, 4, 5, 6, 7, 8])
        .await
        .unwrap();
    let mut oversized = raw_link(&target).await;
    oversized.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let counted = tokio::time::timeout(PATIENCE, async {
        while target.stats().counters["links.read_errors"] < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    counted
        .await
        .expect("both bad links counted as read errors");
    // A silent peer (no handshake) is not counted here: the listener's handshake deadline covers it.
    let outcomes = asker.ask("target", "ping", PATIENCE).await.unwrap();
    assert_eq!(
        outcomes["target"].payload().unwrap().as_text(),
        Some("pong")
    );
    target.shutdown().await;
    asker.shutdown().await;
}
