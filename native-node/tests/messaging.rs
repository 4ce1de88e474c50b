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

/// Publishes `count` 1 KiB messages numbered in their first 8 bytes from `publisher` to `subscriber`'s
/// stream, read slowly, and returns (numbers received in order, missed count reported).
async fn slow_reader_run(
    policy: herald_node::queue::OverflowPolicy,
    count: u64,
) -> (Vec<u64>, u64, Node) {
    let port = common::port(33_000);
    let mut p = config("pub", port);
    p.overflow = policy;
    let publisher = std::sync::Arc::new(Node::start(p).await.unwrap());
    let subscriber = Node::start(config("slow", port)).await.unwrap();
    let mut stream = subscriber.subscription("bulk").unwrap();
    knows_subscription(&publisher, "slow", "bulk").await;
    let sender = publisher.clone();
    let publishing = tokio::spawn(async move {
        for i in 0..count {
            let mut payload = vec![0u8; 1024];
            payload[..8].copy_from_slice(&i.to_be_bytes());
            sender.publish("bulk", payload).await.unwrap();
        }
    });
    let mut numbers = Vec::new();
    let mut missed = 0;
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while numbers.len() as u64 + missed < count || numbers.last() != Some(&(count - 1)) {
            match stream.next().await.expect("stream open") {
                Delivery::Message(message) => {
                    let number = message.payload.as_bytes()[..8].try_into().unwrap();
                    numbers.push(u64::from_be_bytes(number));
                    if numbers.len() % 1000 == 0 {
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
    publishing.await.unwrap();
    let publisher = std::sync::Arc::try_unwrap(publisher)
        .ok()
        .expect("one owner left");
    subscriber.shutdown().await;
    (numbers, missed, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_block_a_slow_reader_loses_nothing() {
    let count = 40_000;
    let (numbers, missed, publisher) =
        slow_reader_run(herald_node::queue::OverflowPolicy::Block, count).await;
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
    let (numbers, missed, publisher) =
        slow_reader_run(herald_node::queue::OverflowPolicy::DropOldest, count).await;
    assert!(
        missed > 0,
        "40 MB cannot fit the buffers: the publisher must have dropped"
    );
    assert_eq!(
        numbers.len() as u64 + missed,
        count,
        "every message delivered or reported missed"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "order kept");
    publisher.shutdown().await;
}
