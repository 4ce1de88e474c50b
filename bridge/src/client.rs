//! One WebSocket client: its snapshot, then a writer (its queue of events and replies, pings) and a reader
//! (its requests, one at a time, each answered by exactly one reply through a [`Responder`]), in one task.
//!
//! Replies share the client's event queue, so a reply is written before any event the node emits after
//! replying (an `asked` reply before its `answer` events). Events never wait for room in the queue (they are
//! dropped and counted); replies do, which only slows this client's own reader.
//!
//! [`serve`] is generic over the socket's two halves (a [`Sink`] and a [`Stream`] of [`Message`]s), so the
//! unit tests below drive it over channels; the server hands it an upgraded WebSocket's halves. The snapshot
//! is the node's, sent as it comes: this module adds nothing to it.
//!
//! [`Responder`]: crate::Responder

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt, Stream, StreamExt};
use herald_core::bridge::{BridgeEvent, BridgeRequest, Snapshot};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::commands::{self, bad_request, ToNode};
use crate::config::BridgeConfig;
use crate::counters::bump;
use crate::hub::{ClientId, Hub, Slot};

/// Events written before one flush.
const WRITE_BATCH: usize = 64;

/// Close code for a client that stayed behind (policy violation).
const CLOSE_TOO_SLOW: u16 = 1008;
/// Close code when the bridge stops or a client stops answering pings (going away).
const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code when the bridge has no room for another client (try again later).
const CLOSE_FULL: u16 = 1013;
/// Close code for a message over [`BridgeConfig::max_message`] (message too big).
const CLOSE_TOO_BIG: u16 = 1009;
/// How long the closing frame may wait for room in the socket (a client that is behind has a full one);
/// after that the connection ends without it.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the bridge ends a connection: the close code and reason sent to the client.
type Ending = (u16, &'static str);

/// What one connection needs from the bridge.
#[derive(Clone)]
pub(crate) struct ClientContext {
    pub(crate) hub: Arc<Hub>,
    pub(crate) to_node: mpsc::Sender<ToNode>,
    pub(crate) config: Arc<BridgeConfig>,
    pub(crate) shutdown: CancellationToken,
    /// The bridge's tasks: the client's reader runs on it, so the bridge's shutdown waits for it.
    pub(crate) tasks: TaskTracker,
}

/// Serves one connection (`sink` and `stream`, its two halves) until it closes, is kicked, or the bridge
/// stops; then tells the node the client is gone.
pub(crate) async fn serve<W, R, E>(mut sink: W, stream: R, context: ClientContext)
where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + 'static,
{
    let Some((id, slot, events)) = context.hub.register() else {
        tracing::warn!("bridge client refused: too many clients");
        close(&mut sink, CLOSE_FULL, "too many clients").await;
        return;
    };
    bump(&context.hub.counters.connections);
    tracing::debug!(%id, "bridge client connected");
    if let Some(snapshot) = snapshot(&context, id).await {
        let first = BridgeEvent::Snapshot(snapshot).to_json();
        if sink.send(Message::Text(first.into())).await.is_ok() {
            let replies = slot.sender();
            let last_heard = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let heard = {
                let last_heard = last_heard.clone();
                move || last_heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed)
            };
            // The reader in its own task: an event wakes only the writer, not a poll of the socket's read half.
            let mut reader = context
                .tasks
                .spawn(read(stream, context.clone(), id, replies, heard));
            // A writer blocked on a full socket cannot see a kick or the bridge stopping: both end it from here.
            let ending = tokio::select! {
                biased;
                _ = slot.kick.cancelled() => {
                    tracing::info!(%id, "bridge client disconnected: it stayed behind for the lag limit");
                    Some((CLOSE_TOO_SLOW, "too slow: fell behind for too long"))
                }
                _ = context.shutdown.cancelled() => Some((CLOSE_GOING_AWAY, "the bridge is stopping")),
                ending = write(&mut sink, &context, &slot, events, &last_heard, started) => ending,
                read = &mut reader => read.ok().flatten(),
            };
            reader.abort();
            if let Some((code, reason)) = ending {
                let _ = tokio::time::timeout(CLOSE_GRACE, close(&mut sink, code, reason)).await;
            }
        }
    }
    context.hub.unregister(id);
    let _ = context
        .to_node
        .send(ToNode::ClientGone { client: id })
        .await;
    tracing::debug!(%id, "bridge client gone");
}

/// The snapshot, as the node assembles it for this client; `None` if the node is gone.
async fn snapshot(context: &ClientContext, client: ClientId) -> Option<Snapshot> {
    let (reply, rx) = oneshot::channel();
    context
        .to_node
        .send(ToNode::Snapshot { client, reply })
        .await
        .ok()?;
    rx.await.ok()
}

/// Writes the client's queue and the pings until the queue or the socket closes (`None`) or the client
/// stops answering pings.
async fn write<W: Sink<Message> + Unpin>(
    sink: &mut W,
    context: &ClientContext,
    slot: &Slot,
    mut events: mpsc::Receiver<Utf8Bytes>,
    last_heard: &AtomicU64,
    started: Instant,
) -> Option<Ending> {
    let interval = context.config.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let counters = &context.hub.counters;
    loop {
        let first = tokio::select! {
            biased;
            event = events.recv() => event?,
            _ = ping.tick() => {
                let silent_ms = started.elapsed().as_millis() as u64 - last_heard.load(Ordering::Relaxed);
                if silent_ms > 2 * interval.as_millis() as u64 {
                    bump(&counters.disconnected_silent);
                    return Some((CLOSE_GOING_AWAY, "no pong"));
                }
                sink.send(Message::Ping(Default::default())).await.ok()?;
                continue;
            }
        };
        // Batch what is already queued into one flush; a lag notice goes before the next event.
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let missed = slot.take_missed();
        if missed > 0 {
            let notice = BridgeEvent::Lagged { missed }.to_json();
            sink.feed(Message::Text(notice.into())).await.ok()?;
        }
        let sent = batch.len() as u64;
        for text in batch {
            sink.feed(Message::Text(text)).await.ok()?;
        }
        sink.flush().await.ok()?;
        counters.events_sent.fetch_add(sent, Ordering::Relaxed);
        if events.is_empty() {
            slot.caught_up();
        }
    }
}

async fn close<W: Sink<Message> + Unpin>(sink: &mut W, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// Reads the client's requests until it closes or its socket fails (`None`) or it sends a message over the
/// limit.
async fn read<R, E>(
    mut stream: R,
    context: ClientContext,
    id: ClientId,
    replies: mpsc::Sender<Utf8Bytes>,
    heard: impl Fn(),
) -> Option<Ending>
where
    R: Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let counters = &context.hub.counters;
    while let Some(message) = stream.next().await {
        heard();
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                bump(&counters.bad_requests);
                let reply = bad_request(None, "binary frames are not accepted: send JSON text");
                if replies.send(reply).await.is_err() {
                    return None;
                }
                continue;
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => return None,
            Err(err) if too_big(&err) => {
                tracing::debug!(%id, %err, "bridge client sent a message over the limit");
                return Some((CLOSE_TOO_BIG, "message too big"));
            }
            Err(err) => {
                tracing::debug!(%id, %err, "bridge client read failed");
                return None;
            }
        };
        match BridgeRequest::from_json(text.as_str()) {
            Ok(request) => {
                bump(&counters.commands);
                if !commands::command(&context.to_node, id, request, &replies).await {
                    return None;
                }
            }
            Err(bad) => {
                bump(&counters.bad_requests);
                tracing::debug!(%id, error = ?bad.error, "bad bridge request");
                let reply = Utf8Bytes::from(bad.into_reply().to_json());
                if replies.send(reply).await.is_err() {
                    return None;
                }
            }
        }
    }
    None
}

/// True when `err` is the WebSocket library refusing a message or frame over the configured size.
fn too_big(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |err| err.source()).any(|err| {
        matches!(
            err.downcast_ref::<tungstenite::Error>(),
            Some(tungstenite::Error::Capacity(_))
        )
    })
}

#[cfg(test)]
mod tests {
    //! [`serve`] over channels: bounded `futures` channels stand in for the socket's halves, a test plays the
    //! node by answering the [`ToNode`] requests itself.

    use std::convert::Infallible;

    use futures::channel::mpsc as socket;
    use herald_core::bridge::{
        BridgeCommand, CommandError, CommandOk, CommandResult, PeerInfo, PeerState,
    };
    use herald_core::{NodeId, PeerKind};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::hub::Audience;

    /// Generous: the tests wait on events, never time them.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// One client's connection, seen from the client's end and the node's.
    struct Connection {
        hub: Arc<Hub>,
        shutdown: CancellationToken,
        /// What the bridge wrote to the client.
        written: socket::Receiver<Message>,
        /// What the client sends the bridge.
        input: socket::Sender<Result<Message, Infallible>>,
        /// What the bridge asks of the node.
        requests: mpsc::Receiver<ToNode>,
        task: JoinHandle<()>,
    }

    /// Serves a client over channels. The written side holds one message (a bounded "socket buffer" that
    /// fills at once when the client does not read).
    fn connect(client_queue: usize, lag_limit: Duration) -> Connection {
        let hub = Arc::new(Hub::new(client_queue, 8, lag_limit));
        let (to_node, requests) = mpsc::channel(8);
        let shutdown = CancellationToken::new();
        let context = ClientContext {
            hub: hub.clone(),
            to_node,
            config: Arc::new(BridgeConfig::new("127.0.0.1:0".parse().unwrap())),
            shutdown: shutdown.clone(),
            tasks: TaskTracker::new(),
        };
        let (sink, written) = socket::channel(0);
        let (input, stream) = socket::channel(4);
        let task = tokio::spawn(serve(sink, stream, context));
        Connection {
            hub,
            shutdown,
            written,
            input,
            requests,
            task,
        }
    }

    fn this_node() -> PeerInfo {
        PeerInfo {
            node_id: NodeId::from_bytes([7; 16]),
            name: "stand-in".into(),
            kind: PeerKind::Herald,
            addr: "127.0.0.1".parse().unwrap(),
            tcp: None,
            services: Default::default(),
            topics: vec!["news".into()],
            via: None,
            site: None,
            txt: Default::default(),
            first_seen_ms: 1,
            last_seen_ms: 2,
            state: PeerState::Live,
        }
    }

    fn error(n: u64) -> BridgeEvent {
        BridgeEvent::NodeError {
            context: "test".into(),
            message: n.to_string(),
        }
    }

    impl Connection {
        /// The next request the bridge makes of the node.
        async fn request(&mut self) -> ToNode {
            tokio::time::timeout(PATIENCE, self.requests.recv())
                .await
                .expect("a request in time")
                .expect("the bridge is running")
        }

        /// Answers the snapshot request with `snapshot`.
        async fn give_snapshot(&mut self, snapshot: Snapshot) {
            match self.request().await {
                ToNode::Snapshot { reply, .. } => reply.send(snapshot).unwrap(),
                other => panic!("expected the snapshot request, got {other:?}"),
            }
        }

        /// The next message written to the client; `None` once the bridge has dropped its end.
        async fn next(&mut self) -> Option<Message> {
            tokio::time::timeout(PATIENCE, self.written.next())
                .await
                .expect("a message or the end in time")
        }

        /// The next event (text frame) written to the client.
        async fn next_event(&mut self) -> BridgeEvent {
            loop {
                match self.next().await.expect("the connection is open") {
                    Message::Text(text) => return BridgeEvent::from_json(&text).unwrap(),
                    Message::Ping(_) | Message::Pong(_) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        }

        /// Sends a request from the client.
        async fn send(&mut self, text: &str) {
            self.input
                .send(Ok(Message::Text(text.to_owned().into())))
                .await
                .unwrap();
        }

        /// Waits for the task to end and the node to hear that the client is gone.
        async fn ended(mut self) {
            tokio::time::timeout(PATIENCE, &mut self.task)
                .await
                .expect("the client's task ends")
                .unwrap();
            assert!(matches!(self.request().await, ToNode::ClientGone { .. }));
            assert_eq!(self.hub.client_count(), 0);
        }
    }

    fn snapshot(subscriptions: &[&str], recent: Vec<BridgeEvent>) -> Snapshot {
        Snapshot {
            node: this_node(),
            peers: Vec::new(),
            subscriptions: subscriptions.iter().map(|s| s.to_string()).collect(),
            recent,
        }
    }

    #[tokio::test]
    async fn the_snapshot_comes_first_as_the_node_made_it_then_events_and_one_reply_per_command() {
        let mut client = connect(16, Duration::from_secs(60));
        // Emitted before the snapshot is sent: queued behind it.
        let given = snapshot(&["news"], vec![error(0)]);
        let ToNode::Snapshot { client: id, reply } = client.request().await else {
            panic!("the first request is not the snapshot");
        };
        client.hub.emit(&Audience::Client(id), &error(1));
        reply.send(given.clone()).unwrap();
        assert_eq!(client.next_event().await, BridgeEvent::Snapshot(given));
        assert_eq!(client.next_event().await, error(1));
        client.hub.emit(&Audience::All, &error(2));
        assert_eq!(client.next_event().await, error(2));

        // A command the node answers, then one whose responder it drops: one reply each, and nothing more
        // before the event emitted after them.
        client.send(r#"{"id": 5, "type": "peers"}"#).await;
        let ToNode::Command {
            client: from,
            command,
            reply,
        } = client.request().await
        else {
            panic!("not a command");
        };
        assert_eq!((from, command, reply.id()), (id, BridgeCommand::Peers, 5));
        let peers = CommandResult::Ok(CommandOk::Peers { peers: Vec::new() });
        reply.send(peers.clone()).await;
        client.send(r#"{"id": 6, "type": "stats"}"#).await;
        let ToNode::Command { reply, .. } = client.request().await else {
            panic!("not a command");
        };
        drop(reply);
        client.hub.emit(&Audience::All, &error(3));
        let BridgeEvent::Reply(first) = client.next_event().await else {
            panic!("no reply to 5");
        };
        assert_eq!((first.id, first.result), (Some(5), peers));
        let BridgeEvent::Reply(second) = client.next_event().await else {
            panic!("no reply to 6");
        };
        assert_eq!(second.id, Some(6));
        assert!(matches!(
            second.result,
            CommandResult::Error(CommandError::Internal { .. })
        ));
        assert_eq!(client.next_event().await, error(3));
        // A malformed request is answered by the bridge itself; the node never sees it.
        client.send(r#"{"id": 7, "type": "fly"}"#).await;
        let BridgeEvent::Reply(bad) = client.next_event().await else {
            panic!("no reply to 7");
        };
        assert_eq!(bad.id, Some(7));
        assert!(client.requests.try_recv().is_err());
        client.shutdown.cancel();
        let Some(Message::Close(Some(frame))) = client.next().await else {
            panic!("no closing frame");
        };
        assert_eq!(frame.code, CLOSE_GOING_AWAY);
        client.ended().await;
    }

    #[tokio::test]
    async fn a_client_behind_is_told_what_it_missed_then_closed_with_1008_after_the_lag_limit() {
        let lag_limit = Duration::from_millis(300);
        let mut client = connect(2, lag_limit);
        client.give_snapshot(snapshot(&[], Vec::new())).await;
        assert!(matches!(
            client.next_event().await,
            BridgeEvent::Snapshot(_)
        ));
        // Not read: two events fit the queue, the other eight are dropped (at once, well within the limit).
        for n in 1..=10 {
            client.hub.emit(&Audience::All, &error(n));
        }
        let (mut received, mut missed) = (Vec::new(), 0);
        while received.last() != Some(&error(2)) || missed == 0 {
            match client.next_event().await {
                BridgeEvent::Lagged { missed: m } => missed += m,
                event => received.push(event),
            }
        }
        assert_eq!((received, missed), (vec![error(1), error(2)], 8));
        assert_eq!(
            client
                .hub
                .counters
                .disconnected_slow
                .load(Ordering::Relaxed),
            0
        );

        // Behind again, and this time for longer than the lag limit: closed with 1008.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut n = 100;
        while client
            .hub
            .counters
            .disconnected_slow
            .load(Ordering::Relaxed)
            == 0
        {
            assert!(tokio::time::Instant::now() < deadline, "never kicked");
            client.hub.emit(&Audience::All, &error(n));
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut last = None;
        while let Some(message) = client.next().await {
            last = Some(message);
        }
        let Some(Message::Close(Some(frame))) = last else {
            panic!("the connection ended with {last:?}, not a closing frame");
        };
        assert_eq!(frame.code, CLOSE_TOO_SLOW);
        client.ended().await;
    }

    #[tokio::test]
    async fn a_client_that_goes_away_ends_its_task() {
        // Its input ends (it closed the socket).
        let mut client = connect(16, Duration::from_secs(60));
        client.give_snapshot(snapshot(&[], Vec::new())).await;
        client.next_event().await;
        client.input.close_channel();
        client.ended().await;

        // It stops reading what is written (the socket broke): the next write fails.
        let mut client = connect(16, Duration::from_secs(60));
        client.give_snapshot(snapshot(&[], Vec::new())).await;
        client.next_event().await;
        client.written.close();
        client.hub.emit(&Audience::All, &error(1));
        client.ended().await;
    }

    #[tokio::test]
    async fn a_client_beyond_the_limit_is_closed_with_1013_and_never_registered() {
        let hub = Arc::new(Hub::new(16, 0, Duration::from_secs(60)));
        let (to_node, mut requests) = mpsc::channel(1);
        let context = ClientContext {
            hub,
            to_node,
            config: Arc::new(BridgeConfig::new("127.0.0.1:0".parse().unwrap())),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let (sink, mut written) = socket::channel(1);
        let (_input, stream) = socket::channel::<Result<Message, Infallible>>(1);
        serve(sink, stream, context).await;
        let Some(Message::Close(Some(frame))) = written.next().await else {
            panic!("no closing frame");
        };
        assert_eq!(frame.code, CLOSE_FULL);
        assert!(requests.try_recv().is_err(), "the node heard of it");
    }
}
