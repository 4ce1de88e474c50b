//! Publish/subscribe between nodes in this process over real links (loopback TCP), discovery pinned to
//! 127.0.0.1 on a group port per test. Waits on events with generous timeouts; no durations asserted.

mod common;

use common::{config, PATIENCE};
use std::time::Duration;

use herald_core::bridge::MessageEvent;
use herald_node::messaging::{Delivery, PublishError};
use herald_node::node::{Events, Node, NodeEvent};
use herald_node::topics::TopicError;

/// Waits until `publisher` sees `subscriber` announcing `pattern`.
async fn knows_subscription(publisher: &Node, subscriber: &str, pattern: &str) {
    let seen = tokio::time::timeout(PATIENCE, async {
        while !publisher
            .peer(subscriber)
            .is_some_and(|p| p.topics.iter().any(|t| t == pattern))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    seen.await.unwrap_or_else(|_| {
        panic!(
            "{} never learned that {subscriber} subscribes to {pattern}",
            publisher.name()
        )
    });
}

/// The next `count` messages from the stream (other events skipped).
async fn messages(events: &mut Events, count: usize) -> Vec<MessageEvent> {
    let mut got = Vec::new();
    let collected = tokio::time::timeout(PATIENCE, async {
        while got.len() < count {
            if let Some(NodeEvent::Message(message)) = events.next().await {
                got.push(message);
            }
        }
    });
    collected
        .await
        .unwrap_or_else(|_| panic!("only {} of {count} messages arrived", got.len()));
    got
}

fn texts(messages: &[MessageEvent]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.payload.as_text().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn one_publisher_reaches_every_subscriber_in_order() {
    let port = common::port(33000);
    let publisher = Node::start(config("pub", port)).await.unwrap();
    let mut subscribers = Vec::new();
    for i in 0..3 {
        let mut c = config(&format!("sub{i}"), port);
        c.topics = vec!["sensors.*".into()];
        let node = Node::start(c).await.unwrap();
        let events = node.events();
        subscribers.push((node, events));
    }
    for i in 0..3 {
        knows_subscription(&publisher, &format!("sub{i}"), "sensors.*").await;
    }
    let expected: Vec<String> = (0..500).map(|i| format!("reading {i}")).collect();
    for text in &expected {
        assert_eq!(
            publisher
                .publish("sensors.kitchen", text.as_str())
                .await
                .unwrap(),
            3
        );
    }
    for (node, events) in &mut subscribers {
        let got = messages(events, expected.len()).await;
        assert_eq!(texts(&got), expected, "order at {}", node.name());
        assert!(got
            .iter()
            .all(|m| m.from_name == "pub" && m.topic.as_deref() == Some("sensors.kitchen")));
    }
    assert_eq!(publisher.stats().counters["messaging.not_queued"], 0);
    for (node, _) in subscribers {
        node.shutdown().await;
    }
    publisher.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_started_before_the_publisher_receives_once_it_appears() {
    let port = common::port(33000);
    let mut c = config("early", port);
    c.topics = vec!["chat".into()];
    let early = Node::start(c).await.unwrap();
    let mut events = early.events();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = Node::start(config("late-publisher", port)).await.unwrap();
    knows_subscription(&late, "early", "chat").await;
    late.publish("chat", "hello").await.unwrap();
    assert_eq!(texts(&messages(&mut events, 1).await), ["hello"]);
    late.shutdown().await;
    early.shutdown().await;
}

#[tokio::test]
async fn local_subscribers_get_their_own_node_s_messages_and_topics_are_checked() {
    let port = common::port(33000);
    let node = Node::start(config("solo", port)).await.unwrap();
    let mut events = node.events();
    assert_eq!(node.publish("nobody.listens", "x").await.unwrap(), 0);
    node.subscribe("notes").unwrap();
    assert_eq!(node.publish("notes", "to self").await.unwrap(), 1);
    assert_eq!(texts(&messages(&mut events, 1).await), ["to self"]);
    assert_eq!(
        node.publish("bad topic", "x").await,
        Err(PublishError::Topic(TopicError::BadCharacter))
    );
    assert_eq!(
        node.publish("a.*", "x").await,
        Err(PublishError::Topic(TopicError::MisplacedWildcard))
    );
    assert_eq!(node.subscribe("a*"), Err(TopicError::MisplacedWildcard));
    node.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_leaves_is_no_longer_sent_to() {
    let port = common::port(33000);
    let publisher = Node::start(config("pub", port)).await.unwrap();
    let mut c = config("leaver", port);
    c.topics = vec!["t".into()];
    let leaver = Node::start(c).await.unwrap();
    knows_subscription(&publisher, "leaver", "t").await;
    assert_eq!(publisher.publish("t", "1").await.unwrap(), 1);
    leaver.shutdown().await;
    let gone = tokio::time::timeout(PATIENCE, async {
        while publisher.peer("leaver").is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    gone.await.expect("the leave was seen");
    assert_eq!(publisher.publish("t", "2").await.unwrap(), 0);
    publisher.shutdown().await;
}

#[tokio::test]
async fn a_node_lists_the_link_a_publisher_opened_to_it_until_it_closes() {
    use herald_core::bridge::LinkDirection;
    let port = common::port(33000);
    let mut c = config("listener", port);
    c.topics = vec!["t".into()];
    let listener = Node::start(c).await.unwrap();
    let mut events = listener.events();
    let publisher = Node::start(config("talker", port)).await.unwrap();
    knows_subscription(&publisher, "listener", "t").await;
    for i in 0..5 {
        publisher
            .publish("t", format!("{i}").as_str())
            .await
            .unwrap();
    }
    messages(&mut events, 5).await;
    // The publisher lists the link it opened; the listener the same link, inbound, with what it read.
    let out = publisher.links();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].direction, LinkDirection::Outbound);
    assert_eq!(out[0].peer, listener.id());
    assert!(out[0].sent >= 5, "{out:?}");
    let inbound = listener.links();
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert_eq!(inbound[0].direction, LinkDirection::Inbound);
    assert_eq!(inbound[0].peer, publisher.id());
    assert!(inbound[0].received >= 5, "{inbound:?}");
    // It is gone once the publisher leaves and its link closes.
    publisher.shutdown().await;
    let closed = tokio::time::timeout(PATIENCE, async {
        while !listener.links().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    closed.await.expect("the inbound link was still listed");
    listener.shutdown().await;
}

/// How the subscriber's reader keeps up in [`slow_reader_run`].
#[derive(Clone, Copy, PartialEq)]
enum Reader {
    /// Reads while the publisher publishes, pausing every 1,000 messages.
    Slow,
    /// Reads nothing until the publisher has published everything (only for a policy that never makes
    /// the publisher wait: with `block` it would wait for this reader for ever).
    AfterPublisher,
}

/// Publishes `count` 1 KiB messages numbered in their first 8 bytes from `publisher` to `subscriber`'s
/// stream, read as `reader` says, and returns (numbers received in order, missed count reported).
async fn slow_reader_run(
    policy: herald_node::queue::OverflowPolicy,
    count: u64,
    reader: Reader,
) -> (Vec<u64>, u64, Node) {
    let port = common::port(33_000);
    let mut p = config("pub", port);
    p.overflow = policy;
    let publisher = std::sync::Arc::new(Node::start(p).await.unwrap());
    let subscriber = Node::start(config("slow", port)).await.unwrap();
    let mut stream = subscriber.subscription("bulk").unwrap();
    knows_subscription(&publisher, "slow", "bulk").await;
    let sender = publisher.clone();
    let mut publishing = tokio::spawn(async move {
        for i in 0..count {
            let mut payload = vec![0u8; 1024];
            payload[..8].copy_from_slice(&i.to_be_bytes());
            sender.publish("bulk", payload).await.unwrap();
        }
    });
    if reader == Reader::AfterPublisher {
        tokio::time::timeout(Duration::from_secs(60), &mut publishing)
            .await
            .expect("the publisher never waits for this reader")
            .unwrap();
    }
    let mut numbers = Vec::new();
    let mut missed = 0;
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while numbers.len() as u64 + missed < count || numbers.last() != Some(&(count - 1)) {
            match stream.next().await.expect("stream open") {
                Delivery::Message(message) => {
                    let number = message.payload[..8].try_into().unwrap();
                    numbers.push(u64::from_be_bytes(number));
                    if reader == Reader::Slow && numbers.len() % 1000 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await; // a slow reader
                    }
                }
                Delivery::Missed { count, .. } => missed += count,
            }
        }
    });
    read.await.unwrap_or_else(|_| {
        panic!(
            "got {} messages and {missed} missed of {count}",
            numbers.len()
        )
    });
    if reader == Reader::Slow {
        publishing.await.unwrap();
    }
    let publisher = std::sync::Arc::try_unwrap(publisher)
        .ok()
        .expect("one owner left");
    subscriber.shutdown().await;
    (numbers, missed, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_block_a_slow_reader_loses_nothing() {
    let count = 40_000;
    let (numbers, missed, publisher) = slow_reader_run(
        herald_node::queue::OverflowPolicy::Block,
        count,
        Reader::Slow,
    )
    .await;
    assert_eq!(missed, 0);
    assert_eq!(
        numbers,
        (0..count).collect::<Vec<_>>(),
        "every message, in order"
    );
    assert_eq!(publisher.stats().counters["messaging.not_queued"], 0);
    publisher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drop_oldest_a_slow_reader_is_told_what_it_missed() {
    let count = 40_000;
    // The reader waits until all 40 MB are published: far more than the link's queue (8,192 frames), the
    // stream (4,096) and the sockets' buffers hold, so the publisher has certainly dropped.
    let (numbers, missed, publisher) = slow_reader_run(
        herald_node::queue::OverflowPolicy::DropOldest,
        count,
        Reader::AfterPublisher,
    )
    .await;
    assert!(missed > 0, "the publisher never dropped");
    assert_eq!(
        numbers.len() as u64 + missed,
        count,
        "every message delivered or reported missed"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "order kept");
    assert_eq!(
        publisher.stats().counters["messaging.dropped_for_slow"],
        missed,
        "the publisher counted what the reader was told"
    );
    publisher.shutdown().await;
}

/// Waits until `publisher` would send a message on `topic` to `subscriber` (or, with `present` false, would not).
async fn routes_to(publisher: &Node, topic: &str, subscriber: &str, present: bool) {
    let routed = tokio::time::timeout(PATIENCE, async {
        while publisher.subscribers(topic).iter().any(|s| s == subscriber) != present {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    routed.await.unwrap_or_else(|_| {
        panic!(
            "{} never {} {subscriber} for {topic}",
            publisher.name(),
            if present {
                "routed to"
            } else {
                "stopped routing to"
            }
        )
    });
}

/// The next message on `stream` (gap notices fail the test).
async fn next_message(stream: &mut herald_node::messaging::Subscription) -> MessageEvent {
    match tokio::time::timeout(PATIENCE, stream.next()).await {
        Ok(Some(Delivery::Message(message))) => message.into(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn patterns_that_overflow_the_beacon_travel_over_the_link() {
    let port = common::port(33_000);
    let long = |i: usize| format!("{}.{i:02}", "x".repeat(200));
    let patterns: Vec<String> = (0..40).map(long).collect();
    let mut c = config("many", port);
    c.topics = patterns.clone();
    let subscriber = Node::start(c).await.unwrap();
    let mut stream = subscriber.subscription(&long(39)).unwrap();
    let publisher = Node::start(config("pub", port)).await.unwrap();
    let seen = tokio::time::timeout(PATIENCE, async {
        while publisher.peer("many").is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    seen.await.expect("the publisher saw the subscriber");
    let in_beacon = publisher.peer("many").unwrap().topics;
    assert!(
        !in_beacon.contains(&long(39)),
        "8 KB of patterns cannot all fit a 1,200-byte beacon: {} of 40 did",
        in_beacon.len()
    );
    // The last pattern reaches the publisher over the link only.
    routes_to(&publisher, &long(39), "many", true).await;
    assert_eq!(publisher.publish(&long(39), "last").await.unwrap(), 1);
    let got = next_message(&mut stream).await;
    assert_eq!(got.payload.as_text(), Some("last"));
    assert_eq!(got.topic.as_deref(), Some(long(39).as_str()));

    // Changes after the link opened travel over it too.
    let late = format!("{}.late", "y".repeat(200));
    let mut late_stream = subscriber.subscription(&late).unwrap();
    routes_to(&publisher, &late, "many", true).await;
    publisher.publish(&late, "late one").await.unwrap();
    assert_eq!(
        next_message(&mut late_stream).await.payload.as_text(),
        Some("late one")
    );
    subscriber.unsubscribe(&long(39)).unwrap();
    routes_to(&publisher, &long(39), "many", false).await;
    assert_eq!(publisher.publish(&long(39), "nobody").await.unwrap(), 0);
    publisher.shutdown().await;
    subscriber.shutdown().await;
}

#[tokio::test]
async fn a_message_read_from_a_subscription_stream_is_not_repeated_as_an_event() {
    let port = common::port(33_000);
    let mut c = config("reader", port);
    c.topics = vec!["plain".into()];
    let subscriber = Node::start(c).await.unwrap();
    let mut events = subscriber.events();
    let mut stream = subscriber.subscription("streamed").unwrap();
    let publisher = Node::start(config("pub", port)).await.unwrap();
    knows_subscription(&publisher, "reader", "streamed").await;
    knows_subscription(&publisher, "reader", "plain").await;
    publisher
        .publish("streamed", "to the stream")
        .await
        .unwrap();
    publisher.publish("plain", "as an event").await.unwrap();
    assert_eq!(
        next_message(&mut stream).await.payload.as_text(),
        Some("to the stream")
    );
    // Both came over one link in order: had the first been repeated, it would be the first event.
    let first = messages(&mut events, 1).await;
    assert_eq!(texts(&first), ["as an event"]);
    publisher.shutdown().await;
    subscriber.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drop_oldest_a_stalled_subscriber_holds_up_no_one() {
    let port = common::port(33_000);
    let publisher = Node::start(config("pub", port)).await.unwrap();
    let stalled = Node::start(config("stalled", port)).await.unwrap();
    let _never_read = stalled.subscription("bulk").unwrap();
    let live = Node::start(config("live", port)).await.unwrap();
    let mut stream = live.subscription("bulk").unwrap();
    knows_subscription(&publisher, "stalled", "bulk").await;
    knows_subscription(&publisher, "live", "bulk").await;
    let count = 30_000u64;
    let reading = tokio::spawn(async move {
        let (mut last, mut got, mut missed) = (None, 0u64, 0u64);
        while got + missed < count {
            match stream.next().await.expect("stream open") {
                Delivery::Message(message) => {
                    let number = u64::from_be_bytes(message.payload[..8].try_into().unwrap());
                    assert!(last < Some(number), "order kept");
                    last = Some(number);
                    got += 1;
                }
                Delivery::Missed { count, .. } => missed += count,
            }
        }
        (last, got, missed, live)
    });
    // 30 MB to a reader that never reads: far beyond every buffer, so only dropping lets this finish.
    let publishing = tokio::time::timeout(Duration::from_secs(60), async {
        for i in 0..count {
            let mut payload = vec![0u8; 1024];
            payload[..8].copy_from_slice(&i.to_be_bytes());
            publisher.publish("bulk", payload).await.unwrap();
        }
    });
    publishing.await.expect("the publisher was held up");
    let (last, got, missed, live) = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("the live subscriber was held up")
        .unwrap();
    assert_eq!(
        last,
        Some(count - 1),
        "the newest message reached the live subscriber"
    );
    assert_eq!(
        got + missed,
        count,
        "every message delivered or reported missed"
    );
    assert!(
        publisher.stats().counters["messaging.dropped_for_slow"] > 0,
        "the stalled subscriber's copies were dropped"
    );
    live.shutdown().await;
    stalled.shutdown().await;
    publisher.shutdown().await;
}

#[tokio::test]
async fn keyed_nodes_publish_send_and_ask_over_encrypted_links_and_count_nothing_amiss() {
    use herald_node::auth::Key;
    let port = common::port(33000);
    let key = Key::from_bytes(vec![11; 32]);
    let keyed = |name: &str| {
        let mut c = config(name, port);
        c.key = Some(key.clone());
        c
    };
    let mut s = keyed("sub");
    s.topics = vec!["news".into()];
    let subscriber = Node::start(s).await.unwrap();
    let mut events = subscriber.events();
    let publisher = Node::start(keyed("pub")).await.unwrap();
    knows_subscription(&publisher, "sub", "news").await;
    // Bigger than one sealed message, and a burst of small ones batched together.
    let big = "x".repeat(150_000);
    assert_eq!(publisher.publish("news", big.as_str()).await.unwrap(), 1);
    for i in 0..200 {
        publisher
            .publish("news", format!("item {i}").as_str())
            .await
            .unwrap();
    }
    let got = texts(&messages(&mut events, 201).await);
    assert_eq!(got[0], big);
    assert_eq!(got[200], "item 199");
    publisher.send("sub", "direct").await;
    assert_eq!(texts(&messages(&mut events, 1).await), ["direct"]);
    let answers = publisher.ask("sub", "ping", PATIENCE).await.unwrap();
    assert_eq!(answers["sub"].payload().unwrap().as_text(), Some("pong"));
    for node in [&publisher, &subscriber] {
        let stats = node.stats().counters;
        for name in [
            "links.refused.auth",
            "links.decrypt_failed",
            "links.read_errors",
        ] {
            assert_eq!(stats[name], 0, "{} {name}", node.name());
        }
    }
    publisher.shutdown().await;
    subscriber.shutdown().await;
}

#[tokio::test]
async fn a_subscription_read_in_batches_gets_every_message_in_order_then_ends_at_shutdown() {
    let port = common::port(33000);
    let publisher = Node::start(config("pub", port)).await.unwrap();
    let subscriber = Node::start(config("batch-reader", port)).await.unwrap();
    let mut stream = subscriber.subscription("ticks.*").unwrap();
    knows_subscription(&publisher, "batch-reader", "ticks.*").await;
    let count = 5_000u64;
    for i in 0..count {
        let topic = if i % 2 == 0 {
            "ticks.even"
        } else {
            "ticks.odd"
        };
        publisher.publish(topic, i.to_be_bytes()).await.unwrap();
    }
    let mut got = Vec::new();
    let mut batch = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        while (got.len() as u64) < count {
            let taken = stream.recv_many(&mut batch, 100).await;
            assert!((1..=100).contains(&taken), "{taken} taken at most 100");
            assert_eq!(batch.len(), taken);
            for delivery in batch.drain(..) {
                let Delivery::Message(message) = delivery else {
                    panic!("a lossless run reported a gap: {delivery:?}");
                };
                let number = u64::from_be_bytes(message.payload[..].try_into().unwrap());
                let parity = if number % 2 == 0 { "even" } else { "odd" };
                assert_eq!(message.topic.as_deref(), Some(&*format!("ticks.{parity}")));
                assert_eq!(&*message.from_name, "pub");
                got.push(number);
            }
        }
    });
    read.await
        .unwrap_or_else(|_| panic!("only {} of {count} arrived", got.len()));
    assert_eq!(got, (0..count).collect::<Vec<_>>());
    assert_eq!(
        stream.recv_many(&mut batch, 0).await,
        0,
        "nothing for max 0"
    );
    subscriber.shutdown().await;
    let ended = tokio::time::timeout(PATIENCE, stream.recv_many(&mut batch, 10)).await;
    assert_eq!(ended.expect("the stream ended"), 0);
    publisher.shutdown().await;
}
