//! One WebSocket client: its snapshot, then a writer (its queue of events and replies, pings) and a reader
//! (its requests, one at a time, each answered by exactly one reply through a [`Responder`]), in one task.
//!
//! Replies share the client's event queue, so a reply is written before any event the node emits after
//! replying (an `asked` reply before its `answer` events). Events never wait for room in the queue (they are
//! dropped and counted); replies do, which only slows this client's own reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use herald_core::bridge::{
    BridgeEvent, BridgeRequest, CommandError, CommandResult, Reply, Snapshot,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{BridgeConfig, COMMAND_TIMEOUT};
use crate::counters::bump;
use crate::hub::{ClientId, Hub, Slot};
use crate::server::ToNode;

/// Events written before one flush.
const WRITE_BATCH: usize = 64;

/// Close code for a client that stayed behind (policy violation).
const CLOSE_TOO_SLOW: u16 = 1008;
/// Close code when the bridge stops or a client stops answering pings (going away).
const CLOSE_GOING_AWAY: u16 = 1001;

/// What one connection needs from the bridge.
#[derive(Clone)]
pub(crate) struct ClientContext {
    pub(crate) hub: Arc<Hub>,
    pub(crate) to_node: mpsc::Sender<ToNode>,
    pub(crate) config: Arc<BridgeConfig>,
    pub(crate) shutdown: CancellationToken,
}

/// Close code when the bridge has no room for another client (try again later).
const CLOSE_FULL: u16 = 1013;

/// Serves one upgraded connection until it closes, is kicked, or the bridge stops.
pub(crate) async fn serve(socket: WebSocket, context: ClientContext) {
    let (mut sink, stream) = socket.split();
    let Some((id, slot, events)) = context.hub.register() else {
        tracing::warn!("bridge client refused: too many clients");
        close(&mut sink, CLOSE_FULL, "too many clients").await;
        return;
    };
    bump(&context.hub.counters.connections);
    tracing::debug!(%id, "bridge client connected");
    let snapshot = snapshot(&context).await;
    if let Some(snapshot) = snapshot {
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
            let mut reader = tokio::spawn(read(stream, context.clone(), id, replies, heard));
            tokio::select! {
                biased;
                _ = write(&mut sink, &context, &slot, events, &last_heard, started) => {}
                _ = &mut reader => {}
                // A writer blocked on a full socket cannot see the kick: end the connection from here.
                _ = slot.kick.cancelled() => {}
            }
            reader.abort();
        }
    }
    context.hub.unregister(id);
    let _ = context
        .to_node
        .send(ToNode::ClientGone { client: id })
        .await;
    tracing::debug!(%id, "bridge client gone");
}

/// The node's part of the snapshot, with the recent events; `None` if the node is gone.
async fn snapshot(context: &ClientContext) -> Option<Snapshot> {
    let (reply, rx) = oneshot::channel();
    context
        .to_node
        .send(ToNode::Snapshot { reply })
        .await
        .ok()?;
    let mut snapshot = rx.await.ok()?;
    snapshot.recent = context.hub.recent();
    snapshot.subscriptions.clear();
    Some(snapshot)
}

async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    context: &ClientContext,
    slot: &Slot,
    mut events: mpsc::Receiver<Utf8Bytes>,
    last_heard: &AtomicU64,
    started: Instant,
) {
    let interval = context.config.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let counters = &context.hub.counters;
    // Made once, not per event: registering and dropping these wakers per loop showed in profiles.
    let kicked = slot.kick.cancelled();
    let stopping = context.shutdown.cancelled();
    tokio::pin!(kicked, stopping);
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut kicked => {
                tracing::info!("bridge client disconnected: it stayed behind for the lag limit");
                close(sink, CLOSE_TOO_SLOW, "too slow: fell behind for too long").await;
                return;
            }
            _ = &mut stopping => {
                close(sink, CLOSE_GOING_AWAY, "the bridge is stopping").await;
                return;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = ping.tick() => {
                let silent_ms = started.elapsed().as_millis() as u64 - last_heard.load(Ordering::Relaxed);
                if silent_ms > 2 * interval.as_millis() as u64 {
                    bump(&counters.disconnected_silent);
                    close(sink, CLOSE_GOING_AWAY, "no pong").await;
                    return;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
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
            if sink.feed(Message::Text(notice.into())).await.is_err() {
                return;
            }
        }
        let sent = batch.len() as u64;
        for text in batch {
            if sink.feed(Message::Text(text)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        counters.events_sent.fetch_add(sent, Ordering::Relaxed);
        if events.is_empty() {
            slot.caught_up();
        }
    }
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

async fn read(
    mut stream: SplitStream<WebSocket>,
    context: ClientContext,
    id: ClientId,
    replies: mpsc::Sender<Utf8Bytes>,
    heard: impl Fn(),
) {
    let counters = &context.hub.counters;
    while let Some(message) = stream.next().await {
        heard();
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                bump(&counters.bad_requests);
                let reply = bad_request(None, "binary frames are not accepted: send JSON text");
                if replies.send(reply).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => return,
            Err(err) => {
                tracing::debug!(%id, %err, "bridge client read failed");
                return;
            }
        };
        match BridgeRequest::from_json(text.as_str()) {
            Ok(request) => {
                bump(&counters.commands);
                if !command(&context, id, request, &replies).await {
                    return;
                }
            }
            Err(bad) => {
                bump(&counters.bad_requests);
                tracing::debug!(%id, error = ?bad.error, "bad bridge request");
                let reply = Utf8Bytes::from(bad.into_reply().to_json());
                if replies.send(reply).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Hands one command to the node and waits until it has replied (or [`COMMAND_TIMEOUT`] passed: then the
/// reply comes whenever the node sends it). False if the client is gone.
async fn command(
    context: &ClientContext,
    client: ClientId,
    request: BridgeRequest,
    replies: &mpsc::Sender<Utf8Bytes>,
) -> bool {
    let (done, replied) = oneshot::channel();
    let responder = Responder {
        id: request.id,
        queue: replies.clone(),
        done: Some(done),
    };
    let to_node = ToNode::Command {
        client,
        command: request.command,
        reply: responder,
    };
    if let Err(mpsc::error::SendError(ToNode::Command { reply, .. })) =
        context.to_node.send(to_node).await
    {
        let unavailable = CommandError::Unavailable {
            message: "the node is stopping".into(),
        };
        reply.send(CommandResult::Error(unavailable)).await;
        return true;
    }
    if tokio::time::timeout(COMMAND_TIMEOUT, replied)
        .await
        .is_err()
    {
        tracing::warn!(%client, id = request.id, "the node has not answered a bridge command in {COMMAND_TIMEOUT:?}");
    }
    !replies.is_closed()
}

/// The way to the one reply of a client's request. Dropped without [`Responder::send`], it replies with an
/// `internal` error, so a request is never left without an answer.
#[derive(Debug)]
pub struct Responder {
    id: u64,
    queue: mpsc::Sender<Utf8Bytes>,
    done: Option<oneshot::Sender<()>>,
}

impl Responder {
    /// The request's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues the reply (waiting for room in this client's queue, never dropping it).
    pub async fn send(mut self, result: CommandResult) {
        let text = reply_text(self.id, result);
        let _ = self.queue.send(text).await;
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let error = CommandError::Internal {
                message: "the node dropped the request".into(),
            };
            let reply = reply_text(self.id, CommandResult::Error(error));
            if self.queue.try_send(reply).is_err() {
                tracing::warn!(
                    id = self.id,
                    "a request the node dropped could not be answered: the client's queue is full or closed"
                );
            }
            let _ = done.send(());
        }
    }
}

fn reply_text(id: u64, result: CommandResult) -> Utf8Bytes {
    let reply = Reply {
        id: Some(id),
        result,
    };
    Utf8Bytes::from(BridgeEvent::Reply(reply).to_json())
}

fn bad_request(id: Option<u64>, message: &str) -> Utf8Bytes {
    let reply = Reply {
        id,
        result: CommandResult::Error(CommandError::BadRequest {
            message: message.to_owned(),
        }),
    };
    Utf8Bytes::from(BridgeEvent::Reply(reply).to_json())
}
