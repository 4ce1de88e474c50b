//! A peer at another site, as the endpoint of a proxied peer on this LAN: a direct message for it is queued
//! for the gateway task to publish on its site's direct subject; a question for it is a NATS request to its
//! site's ask subject, answered by that site's gateway with the peer's answer (or why there is none).

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::time::Duration;

use async_nats::header::{HeaderMap, HeaderName};
use async_nats::Client;
use herald_core::frame::AnswerBody;
use herald_core::{NoAnswer, NodeId, Payload};
use tokio::sync::mpsc;

use super::subjects::{self, Sender, H_OUTCOME};
use crate::proxies::ProxyEndpoint;
use crate::stats::{bump, SiteCounters};
use crate::Node;

/// Header of a question: how long the asker waits (ms), so the answering site stops in time too.
pub const H_TIMEOUT: &str = "Herald-Timeout-Ms";

/// A message the gateway task is to publish.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The subject.
    pub subject: async_nats::Subject,
    /// Who sent it (headers).
    pub headers: HeaderMap,
    /// The body.
    pub payload: bytes::Bytes,
}

/// The `Herald-From` header's name, built once (a name given as a string is checked and copied each time;
/// this one is static, so a header map holding it clones without copying it).
pub(crate) const FROM: HeaderName = HeaderName::from_static(subjects::H_FROM);

/// The headers naming a sender `from` at `site`, with its node id when known (one header, `Herald-From`).
pub(crate) fn sender_headers(site: &str, from: &str, from_id: Option<NodeId>) -> HeaderMap {
    let sender = Sender {
        site,
        id: from_id,
        name: from,
    };
    let mut headers = HeaderMap::new();
    headers.insert(FROM, sender.header_value());
    headers
}

/// The value of a message's `Herald-From` header, if it has one.
pub(crate) fn from_value(message: &async_nats::Message) -> Option<&str> {
    // One pass over the few headers rather than a hashed look-up.
    let (_, values) = message
        .headers
        .as_ref()?
        .iter()
        .find(|(name, _)| **name == FROM)?;
    Some(values.first()?.as_str())
}

/// The sender a message's headers name (`None` without a well-formed `Herald-From`: a plain NATS client).
pub(crate) fn sender_of(message: &async_nats::Message) -> Option<Sender<'_>> {
    Sender::parse(from_value(message)?)
}

/// The endpoint of the peer `id` at `site`.
pub(crate) struct RemoteEndpoint {
    /// Weak: the node holds its proxies' endpoints.
    pub node: Weak<Node>,
    pub client: Client,
    pub own_site: String,
    pub site: String,
    pub id: NodeId,
    pub outgoing: mpsc::Sender<Outgoing>,
}

impl RemoteEndpoint {
    fn count(&self, counter: impl Fn(&SiteCounters) -> &std::sync::atomic::AtomicU64) {
        if let Some(node) = self.node.upgrade() {
            bump(counter(node.site_counters()));
        }
    }
}

impl ProxyEndpoint for RemoteEndpoint {
    fn deliver(&self, from: &str, payload: Payload) -> Result<(), String> {
        let message = Outgoing {
            subject: subjects::direct_subject(&self.site, self.id).into(),
            headers: sender_headers(&self.own_site, from, None),
            payload: payload.0.into(),
        };
        self.outgoing.try_send(message).map_err(|_| {
            self.count(|c| &c.remote_failed);
            "the site gateway's queue to NATS is full".to_owned()
        })
    }

    fn ask(
        &self,
        from: &str,
        question: Payload,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = AnswerBody> + Send>> {
        let mut headers = sender_headers(&self.own_site, from, None);
        headers.insert(H_TIMEOUT, timeout.as_millis().to_string().as_str());
        let subject = subjects::ask_subject(&self.site, self.id);
        let client = self.client.clone();
        let node = self.node.clone();
        let site = self.site.clone();
        Box::pin(async move {
            let count = |counter: fn(&SiteCounters) -> &std::sync::atomic::AtomicU64| {
                if let Some(node) = node.upgrade() {
                    bump(counter(node.site_counters()));
                }
            };
            count(|c| &c.published);
            let request = async_nats::Request::new()
                .headers(headers)
                .payload(question.0.into())
                .timeout(Some(timeout));
            match client.send_request(subject, request).await {
                Ok(reply) => {
                    count(|c| &c.received);
                    answer_of(&reply)
                }
                Err(err) => {
                    count(|c| &c.remote_failed);
                    match err.kind() {
                        async_nats::RequestErrorKind::TimedOut => {
                            AnswerBody::NoAnswer(NoAnswer::Timeout)
                        }
                        async_nats::RequestErrorKind::NoResponders => AnswerBody::Failed(format!(
                            "site {site} unreachable (no gateway on NATS)"
                        )),
                        _ => AnswerBody::Failed(format!("site {site}: {err}")),
                    }
                }
            }
        })
    }
}

/// The answer a reply from the peer's site carries.
fn answer_of(reply: &async_nats::Message) -> AnswerBody {
    let outcome = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(H_OUTCOME))
        .map(|v| v.as_str().to_owned());
    match outcome.as_deref() {
        Some("answered") => AnswerBody::Answered(Payload(reply.payload.to_vec())),
        Some("timeout") => AnswerBody::NoAnswer(NoAnswer::Timeout),
        Some("unknown_peer") => AnswerBody::NoAnswer(NoAnswer::UnknownPeer),
        Some("peer_left") => AnswerBody::NoAnswer(NoAnswer::PeerLeft),
        Some(other) => {
            let reason = String::from_utf8_lossy(&reply.payload);
            if reason.is_empty() {
                AnswerBody::Failed(other.to_owned())
            } else {
                AnswerBody::Failed(format!("{other}: {reason}"))
            }
        }
        None => AnswerBody::Failed("reply without an outcome".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(outcome: Option<&str>, body: &[u8]) -> async_nats::Message {
        let headers = outcome.map(|o| {
            let mut h = HeaderMap::new();
            h.insert(H_OUTCOME, o);
            h
        });
        async_nats::Message {
            subject: "_INBOX.x".into(),
            reply: None,
            payload: body.to_vec().into(),
            headers,
            status: None,
            description: None,
            length: body.len(),
        }
    }

    #[test]
    fn replies_mean_what_they_mean_on_one_lan() {
        assert_eq!(
            answer_of(&reply(Some("answered"), b"pong")),
            AnswerBody::Answered(Payload::from("pong"))
        );
        for (outcome, no_answer) in [
            ("timeout", NoAnswer::Timeout),
            ("unknown_peer", NoAnswer::UnknownPeer),
            ("peer_left", NoAnswer::PeerLeft),
        ] {
            assert_eq!(
                answer_of(&reply(Some(outcome), b"")),
                AnswerBody::NoAnswer(no_answer)
            );
        }
        assert_eq!(
            answer_of(&reply(Some("failed"), b"busy")),
            AnswerBody::Failed("failed: busy".into())
        );
        assert!(matches!(
            answer_of(&reply(None, b"x")),
            AnswerBody::Failed(_)
        ));
    }
}
