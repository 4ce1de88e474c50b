//! Messages and questions for legacy peers, through their gateway: the sending side addresses a proxied peer's
//! frames to its gateway's link in a `Relay` frame ([`addressed`]), or hands them straight to the endpoint when
//! this node is the gateway; the gateway's link reader hands relayed frames to the peer's
//! [`ProxyEndpoint`](crate::proxies::ProxyEndpoint) ([`on_relay`]) and relays its answers back, which the
//! asker's reader settles like any answer, in the proxied peer's name.

use std::sync::Arc;
use std::time::Duration;

use herald_core::frame::{Answer, AnswerBody, Frame, Relayed};
use herald_core::legacy::pyconnect::PcFrame;
use herald_core::{NodeId, Payload, PeerKind};

use crate::discovery::peers::LinkTarget;
use crate::link::{LinkPeer, LinkSender};
use crate::shared::Shared;
use crate::stats::bump;

/// `relayed` as it goes to `target`: wrapped in a `Relay` frame for a proxied peer, as is otherwise.
pub(crate) fn addressed(target: &LinkTarget, relayed: Relayed) -> Frame {
    match target.proxied {
        Some(peer) => Frame::Relay {
            peer,
            frame: relayed,
        },
        None => relayed.into(),
    }
}

/// Whether a legacy peer of `kind` can be sent `payload` at all (checked by the sender, so it gets the reason
/// at once instead of the gateway dropping it): pythonConnect carries UTF-8 text in frames of at most 512
/// bytes, without its separators.
pub(crate) fn carriable(kind: PeerKind, payload: &Payload, question: bool) -> Result<(), String> {
    if kind != PeerKind::Pythonconnect {
        return Ok(());
    }
    let text = payload
        .as_text()
        .ok_or("pythonConnect carries text only (UTF-8)")?
        .to_owned();
    let frame = if question {
        PcFrame::Question {
            key: "9999".into(),
            text,
        }
    } else {
        PcFrame::Message(text)
    };
    frame
        .encode()
        .map(drop)
        .map_err(|err| format!("pythonConnect cannot carry it: {err}"))
}

/// The proxied peer `target` names when this node is its gateway (its frames never go over a link).
pub(crate) fn local_proxy(shared: &Shared, target: &LinkTarget) -> Option<NodeId> {
    target.proxied.filter(|_| target.node_id == shared.node_id)
}

/// A direct message from this node to a legacy peer it is the gateway of.
pub(crate) fn deliver_here(shared: &Shared, peer: NodeId, payload: Payload) -> Result<(), String> {
    let Some(endpoint) = shared.proxies.endpoint(&peer) else {
        return Err("the legacy peer is gone".into());
    };
    let delivered = endpoint.deliver(&shared.config.name, payload);
    bump(match delivered {
        Ok(()) => &shared.messaging.counters.relayed,
        Err(_) => &shared.messaging.counters.relay_failed,
    });
    delivered
}

/// Asks a legacy peer this node is the gateway of, and settles the question `id` with its answer.
pub(crate) fn ask_here(
    shared: &Arc<Shared>,
    id: u64,
    peer: NodeId,
    question: Payload,
    timeout: Duration,
) {
    let shared_for_task = shared.clone();
    shared.tasks.spawn(async move {
        let shared = shared_for_task;
        let body = ask_endpoint(&shared, &shared.config.name, peer, question, timeout).await;
        shared.awaiting.answer(id, peer, body);
    });
}

/// The answer of the proxied peer `peer` to `question` from `from`, within `timeout`.
async fn ask_endpoint(
    shared: &Shared,
    from: &str,
    peer: NodeId,
    question: Payload,
    timeout: Duration,
) -> AnswerBody {
    let counters = &shared.messaging.counters;
    let Some(endpoint) = shared.proxies.endpoint(&peer) else {
        bump(&counters.relay_failed);
        return AnswerBody::Failed("no such legacy peer at this gateway".into());
    };
    bump(&counters.relayed);
    match tokio::time::timeout(timeout, endpoint.ask(from, question, timeout)).await {
        Ok(body) => body,
        Err(_) => AnswerBody::Failed("the legacy peer did not answer in time".into()),
    }
}

/// A `Relay` frame read from the link to `from`: an answer from a legacy peer (this node asked it through its
/// gateway), or a message or question for a legacy peer this node is the gateway of.
pub(crate) fn on_relay(
    shared: &Arc<Shared>,
    reply: &LinkSender,
    from: &LinkPeer,
    peer: NodeId,
    relayed: Relayed,
) {
    let counters = &shared.messaging.counters;
    match relayed {
        // Read by the link's reader itself (it routes topic messages).
        Relayed::Publish { .. } => {}
        Relayed::Answer(answer) => {
            if !shared.awaiting.answer(answer.id, peer, answer.body) {
                bump(&counters.answers_discarded);
                tracing::debug!(gateway = %from.name, id = answer.id, "late or unknown relayed answer discarded");
            }
        }
        Relayed::Direct { payload } => {
            let Some(endpoint) = shared.proxies.endpoint(&peer) else {
                bump(&counters.relay_failed);
                tracing::info!(from = %from.name, %peer, "message for a legacy peer not (or no longer) here; dropped");
                return;
            };
            match endpoint.deliver(&from.name, payload) {
                Ok(()) => bump(&counters.relayed),
                Err(reason) => {
                    bump(&counters.relay_failed);
                    tracing::info!(from = %from.name, %peer, %reason, "message for a legacy peer not delivered");
                }
            }
        }
        Relayed::Question(question) => {
            let (shared, reply, asker) = (shared.clone(), reply.clone(), from.name.clone());
            shared.clone().tasks.spawn(async move {
                let timeout = Duration::from_millis(u64::from(question.timeout_ms));
                let body = ask_endpoint(&shared, &asker, peer, question.payload, timeout).await;
                let answer = Frame::Relay {
                    peer,
                    frame: Relayed::Answer(Answer {
                        id: question.id,
                        body,
                    }),
                };
                if reply.send(answer).await.is_ok() {
                    bump(&shared.messaging.counters.answers_sent);
                }
            });
        }
    }
}
