//! The node's side of the bridge: a node on loopback (discovery pinned to 127.0.0.1 on a group port of this
//! test's own) serving a real bridge on `127.0.0.1:0`, WebSocket clients (tokio-tungstenite) connected to it.
//! Waits on events with generous timeouts; no durations asserted.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{config, PATIENCE};
use futures::{SinkExt, StreamExt};
use herald_bridge::{Bridge, BridgeConfig};
use herald_core::bridge::{
    BridgeCommand, BridgeEvent, BridgeRequest, CommandOk, CommandResult, Snapshot,
};
use herald_node::bridge_adapter::NodeBridge;
use herald_node::node::Node;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A node subscribed to `own` (as `herald node --subscribe` does), with its bridge.
async fn node_with_bridge(name: &str, own: &[&str]) -> (Arc<Node>, Bridge, NodeBridge) {
    let mut node_config = config(name, common::port(35_000));
    node_config.topics = own.iter().map(|t| t.to_string()).collect();
    let node = Arc::new(Node::start(node_config).await.unwrap());
    let mut bridge_config = BridgeConfig::new("127.0.0.1:0".parse().unwrap());
    bridge_config.dashboard_dir = None;
    let (bridge, requests) = Bridge::start(bridge_config).await.unwrap();
    let own: BTreeSet<String> = own.iter().map(|t| t.to_string()).collect();
    let forwarding = NodeBridge::start(node.clone(), None, bridge.clone(), requests, own);
    (node, bridge, forwarding)
}

async fn connect(bridge: &Bridge) -> Client {
    let url = format!("ws://{}/ws", bridge.local_addr());
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next event (text frame) the client receives.
async fn next_event(client: &mut Client) -> BridgeEvent {
    let text = tokio::time::timeout(PATIENCE, async {
        loop {
            match client
                .next()
                .await
                .expect("the connection is open")
                .unwrap()
            {
                Message::Text(text) => return text,
                _ => continue,
            }
        }
    })
    .await
    .expect("an event in time");
    BridgeEvent::from_json(&text).unwrap()
}

async fn snapshot(client: &mut Client) -> Snapshot {
    match next_event(client).await {
        BridgeEvent::Snapshot(snapshot) => snapshot,
        other => panic!("the first event is not the snapshot: {other:?}"),
    }
}

/// Sends `command` and waits for its reply (events before it are skipped).
async fn request(client: &mut Client, id: u64, command: BridgeCommand) -> CommandResult {
    let text = BridgeRequest { id, command }.to_json();
    client.send(Message::text(text)).await.unwrap();
    loop {
        if let BridgeEvent::Reply(reply) = next_event(client).await {
            assert_eq!(reply.id, Some(id));
            return reply.result;
        }
    }
}

#[tokio::test]
async fn a_new_client_starts_subscribed_to_the_nodes_own_topics_and_gets_their_messages() {
    let (node, bridge, forwarding) = node_with_bridge("snap", &["news"]).await;
    let mut first = connect(&bridge).await;
    let snap = snapshot(&mut first).await;
    assert_eq!(snap.node.name, "snap");
    assert_eq!(snap.subscriptions, ["news"]);

    // The subscription is real: the node's messages on it reach the client.
    node.publish("news", "extra").await.unwrap();
    let message = loop {
        if let BridgeEvent::Message(message) = next_event(&mut first).await {
            break message;
        }
    };
    assert_eq!(message.topic.as_deref(), Some("news"));
    assert_eq!(message.payload.as_text(), Some("extra"));

    // Another client's pattern is held by the node too, but it is that client's, not a newcomer's.
    let subscribed = request(
        &mut first,
        1,
        BridgeCommand::Subscribe {
            topic: "chat.*".into(),
        },
    )
    .await;
    assert!(matches!(
        subscribed,
        CommandResult::Ok(CommandOk::Subscribed { .. })
    ));
    let mut second = connect(&bridge).await;
    let snap = snapshot(&mut second).await;
    assert!(snap.node.topics.iter().any(|t| t == "chat.*"));
    assert_eq!(snap.subscriptions, ["news"]);

    // A client that drops the node's own pattern drops it for itself only: the node keeps it.
    let dropped = request(
        &mut second,
        2,
        BridgeCommand::Unsubscribe {
            topic: "news".into(),
        },
    )
    .await;
    assert!(matches!(
        dropped,
        CommandResult::Ok(CommandOk::Unsubscribed { .. })
    ));
    drop(first);
    drop(second);
    let mut third = connect(&bridge).await;
    assert_eq!(snapshot(&mut third).await.subscriptions, ["news"]);
    assert!(node.info().topics.iter().any(|t| t == "news"));

    forwarding.shutdown().await;
    bridge.shutdown().await;
    Arc::into_inner(node).unwrap().shutdown().await;
}
