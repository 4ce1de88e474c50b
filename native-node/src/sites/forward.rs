//! The small tasks of a site gateway that read one subscription each, so that a message makes no extra hop
//! through the gateway task: [`forward_nats`] hands a control subscription's messages (peer lists, resync
//! requests, direct messages, questions: [`Kind`]) to the gateway task; [`import_from`] publishes a NATS topic
//! subscription's messages on the LAN and [`export_from`] a LAN subscription's on NATS (both through
//! [`Carrier`]); [`confirm`] waits for the server to have a new subscription.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Subscriber};
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::carry::{Carrier, LastExport, LastImport};
use super::endpoint::Outgoing;
use crate::messaging::Delivery;

/// Messages a subscription (on NATS or on the LAN) already holds that its import or export task takes in one
/// run, without looking at its cancellation in between.
const RUN: usize = 256;

/// How long a new subscription's round trip to the server may take before its pattern is announced anyway.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(2);

/// What a NATS subscription is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Other sites' peer lists.
    Peers,
    /// Resync requests.
    Sync,
    /// Direct messages to this site's peers.
    Direct,
    /// Questions to this site's peers.
    Ask,
}

/// Forwards what a NATS subscription brings into the gateway task until cancelled.
pub(crate) async fn forward_nats(
    kind: Kind,
    subscriber: Subscriber,
    tx: mpsc::Sender<(Kind, async_nats::Message)>,
    token: CancellationToken,
) {
    read_until_cancelled(subscriber, token, |message| {
        let tx = tx.clone();
        async move { tx.send((kind, message)).await.is_ok() }
    })
    .await
}

/// Hands each message of `subscriber` to `each` until it says stop (`false`), the subscription ends, or
/// `token` is cancelled (then it unsubscribes).
async fn read_until_cancelled<F, Fut>(
    mut subscriber: Subscriber,
    token: CancellationToken,
    mut each: F,
) where
    F: FnMut(async_nats::Message) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        tokio::select! {
            _ = token.cancelled() => {
                let _ = subscriber.unsubscribe().await;
                return;
            }
            message = subscriber.next() => match message {
                Some(message) => {
                    if !each(message).await {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

/// Exports the LAN messages of a subscription (not the gateway's own) until cancelled; what cannot go out
/// at once goes to the gateway task, which holds it ([`super::held`]).
pub(crate) async fn export_from(
    mut stream: crate::Subscription,
    carrier: Arc<Carrier>,
    tx: mpsc::Sender<Outgoing>,
    token: CancellationToken,
) {
    let me = carrier.node.id();
    let mut last = LastExport::default();
    loop {
        let first = tokio::select! {
            _ = token.cancelled() => return,
            delivery = stream.next() => delivery,
        };
        // What the subscription holds already is taken in a run, without going back through the `select!`.
        let (mut next, mut taken) = (Some(first), 0);
        while let Some(delivery) = next.take() {
            match delivery {
                Some(Delivery::Message(message)) if message.from != me => {
                    if let Some(held) = carrier.export(message, &mut last).await {
                        if tx.send(held).await.is_err() {
                            return;
                        }
                    }
                }
                Some(_) => {}
                None => return,
            }
            taken += 1;
            if taken < RUN {
                next = stream.next().now_or_never();
            }
        }
    }
}

/// Waits until the server has processed everything `client` sent before: a question nobody answers, on
/// [`subjects::probe_subject`], whose "no responders" reply comes back after it (or a timeout, after which the
/// subscription is taken as in place anyway).
pub(crate) async fn confirm(client: &Client, probe: String) {
    let request = async_nats::Request::new().timeout(Some(CONFIRM_PATIENCE));
    if let Err(err) = client.send_request(probe, request).await {
        if err.kind() != async_nats::RequestErrorKind::NoResponders {
            tracing::debug!(%err, "no round trip to NATS after subscribing");
        }
    }
}

/// Imports what a NATS topic subscription brings until cancelled (then unsubscribes). Messages the
/// subscription holds already are taken in a run of up to [`RUN`] without going back through the
/// `select!`.
pub(crate) async fn import_from(
    mut subscriber: Subscriber,
    carrier: Arc<Carrier>,
    token: CancellationToken,
) {
    let mut last = LastImport::default();
    loop {
        let message = tokio::select! {
            _ = token.cancelled() => {
                let _ = subscriber.unsubscribe().await;
                return;
            }
            message = subscriber.next() => message,
        };
        let Some(message) = message else { return };
        carrier.import(message, &mut last).await;
        for _ in 0..RUN {
            match subscriber.next().now_or_never() {
                Some(Some(message)) => carrier.import(message, &mut last).await,
                Some(None) => return,
                None => break,
            }
        }
    }
}
