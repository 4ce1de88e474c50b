//! What the bridge asks of the node ([`ToNode`]) and the way back: every client request gets exactly one
//! reply, through a [`Responder`] (sent by the node, or an error when the node drops it or is gone).
//!
//! This module knows neither the socket (`client`) nor the HTTP server (`server`); both use it.

use axum::extract::ws::Utf8Bytes;
use herald_core::bridge::{
    BridgeCommand, BridgeEvent, BridgeRequest, CommandError, CommandResult, Reply, Snapshot, Stats,
};
use tokio::sync::{mpsc, oneshot};

use crate::config::COMMAND_TIMEOUT;
use crate::hub::ClientId;

/// What the bridge asks of the node. Every request carries its reply channel; the node answers each one.
#[derive(Debug)]
pub enum ToNode {
    /// A client's command; the result becomes the client's one reply.
    Command {
        /// Who sent it (the audience for what follows, e.g. answers to its question).
        client: ClientId,
        /// What to do.
        command: BridgeCommand,
        /// Where the one reply goes.
        reply: Responder,
    },
    /// A new client's snapshot, whole: the bridge sends it as it comes, adding nothing. The node assembles
    /// it (the recent events from [`crate::Bridge::recent`]) and may subscribe the client to topics first.
    Snapshot {
        /// The new client (already registered: events emitted to it from now on are queued behind the
        /// snapshot).
        client: ClientId,
        /// The snapshot.
        reply: oneshot::Sender<Snapshot>,
    },
    /// The node's counters, for `/metrics` (the bridge adds its own).
    Stats {
        /// The counters.
        reply: oneshot::Sender<Stats>,
    },
    /// A client disconnected: forget its subscriptions and questions.
    ClientGone {
        /// The client.
        client: ClientId,
    },
}

/// Hands one request to the node and waits until it has replied (or [`COMMAND_TIMEOUT`] passed: then the
/// reply comes whenever the node sends it). The reply goes into `replies`, the client's queue. False if the
/// client is gone.
pub(crate) async fn command(
    to_node: &mpsc::Sender<ToNode>,
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
    let to_node_request = ToNode::Command {
        client,
        command: request.command,
        reply: responder,
    };
    if let Err(mpsc::error::SendError(ToNode::Command { reply, .. })) =
        to_node.send(to_node_request).await
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
        let text = reply_text(Some(self.id), result);
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
            let reply = reply_text(Some(self.id), CommandResult::Error(error));
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

/// The JSON text of a reply to request `id` (`None` when the request's id could not be read).
pub(crate) fn reply_text(id: Option<u64>, result: CommandResult) -> Utf8Bytes {
    Utf8Bytes::from(BridgeEvent::Reply(Reply { id, result }).to_json())
}

/// The reply to a request that could not be read.
pub(crate) fn bad_request(id: Option<u64>, message: &str) -> Utf8Bytes {
    let error = CommandError::BadRequest {
        message: message.to_owned(),
    };
    reply_text(id, CommandResult::Error(error))
}
