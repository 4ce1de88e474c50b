//! The per-message paths of a site gateway, run in the tasks that read each subscription (so a message makes
//! no extra hop through the gateway task): [`Carrier::export`] takes a LAN message some other site wants out
//! to NATS in its sender's name, [`Carrier::import`] publishes a message from NATS on the LAN. While NATS is
//! unreachable (or messages are already held) an export goes to the gateway task instead, which holds it
//! in its bounded backlog, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_nats::connection::State;
use async_nats::{Client, HeaderMap, Subject};
use herald_core::NodeId;
use smol_str::SmolStr;

use super::endpoint::{sender_headers, sender_of, Outgoing};
use super::subjects::{self, Sender};
use crate::messaging::Message;
use crate::stats::bump;
use crate::topics::TopicPattern;
use crate::Node;

/// What the subscription tasks of one gateway share.
pub(crate) struct Carrier {
    pub node: Arc<Node>,
    pub client: Client,
    pub site: String,
    export: Vec<TopicPattern>,
    import: Vec<TopicPattern>,
    /// True while the gateway task holds messages for NATS: new ones then queue behind them.
    pub holding: AtomicBool,
}

fn parsed(patterns: &[String]) -> Vec<TopicPattern> {
    patterns
        .iter()
        .filter_map(|p| TopicPattern::parse(p).ok())
        .collect()
}

impl Carrier {
    /// A carrier for `site` (patterns already checked by the gateway's start).
    pub fn new(
        node: Arc<Node>,
        client: Client,
        site: &str,
        export: &[String],
        import: &[String],
    ) -> Carrier {
        Carrier {
            node,
            client,
            site: site.to_owned(),
            export: parsed(export),
            import: parsed(import),
            holding: AtomicBool::new(false),
        }
    }

    /// Exports a LAN message: published at once, or returned for the gateway task to hold. `last` keeps the
    /// subject and headers of the previous export (a run of messages on one topic from one sender builds them
    /// once).
    pub async fn export(&self, message: Message, last: &mut LastExport) -> Option<Outgoing> {
        let topic = message.topic.as_deref()?;
        let counters = self.node.site_counters();
        if last.topic.as_ref().map(|(known, _)| known.as_str()) != Some(topic) {
            if !self.export.iter().any(|p| p.matches(topic)) {
                bump(&counters.filtered);
                return None;
            }
            let subject = match subjects::topic_subject(topic) {
                Ok(subject) => subject,
                Err(err) => {
                    bump(&counters.export_refused);
                    tracing::debug!(%topic, %err, "not exported");
                    return None;
                }
            };
            last.topic = Some((topic.into(), subject.into()));
        }
        let sender = (message.from, message.from_name.as_str());
        if last.sender.as_ref().map(|(id, name)| (*id, name.as_str())) != Some(sender) {
            last.headers = sender_headers(&self.site, &message.from_name, Some(message.from));
            last.sender = Some((message.from, message.from_name.clone()));
        }
        let outgoing = Outgoing {
            subject: last.topic.as_ref()?.1.clone(),
            headers: last.headers.clone(),
            payload: message.payload,
        };
        let direct = self.client.connection_state() == State::Connected
            && !self.holding.load(Ordering::Acquire);
        if !direct {
            return Some(outgoing);
        }
        publish(&self.node, &self.client, outgoing).await;
        None
    }

    /// Imports a message from another site (or a plain NATS client) on a topic this LAN wants. `last` keeps the
    /// previous sender's name (`name@site`, built once for a run of its messages).
    pub async fn import(&self, message: async_nats::Message, last: &mut LastImport) {
        let counters = self.node.site_counters();
        bump(&counters.received);
        let Some(topic) = subjects::subject_topic(&message.subject) else {
            bump(&counters.bad_input);
            return;
        };
        let verdict = last.verdict(topic, |topic| {
            if crate::topics::validate_topic(topic).is_err() {
                Verdict::Garbage
            } else if self.import.iter().any(|p| p.matches(topic)) {
                Verdict::Wanted
            } else {
                Verdict::Filtered
            }
        });
        if verdict == Verdict::Garbage {
            bump(&counters.bad_input);
            tracing::debug!(subject = %message.subject, "garbage on a Herald subject skipped");
            return;
        }
        let said = sender_of(&message);
        if said.is_some_and(|s| s.site == self.site) {
            return; // ours (a second gateway of this site would echo it)
        }
        if verdict == Verdict::Filtered {
            bump(&counters.filtered);
            return;
        }
        // A Herald sender: in its own name (`name@site`); a plain NATS client: in the gateway's.
        let sender = said.and_then(|said| last.sender(said));
        let published = match sender {
            Some((id, name)) => {
                self.node
                    .publish_as(id, name, topic, &message.payload)
                    .await
            }
            None => self.node.publish(topic, &message.payload).await,
        };
        if let Err(err) = published {
            tracing::debug!(%topic, %err, "a message from another site not published on the LAN");
        }
    }
}

/// What one export task keeps from its previous message: the NATS subject of its topic and the headers
/// naming its sender.
#[derive(Default)]
pub(crate) struct LastExport {
    topic: Option<(SmolStr, Subject)>,
    sender: Option<(NodeId, SmolStr)>,
    headers: HeaderMap,
}

/// What becomes of a message from NATS on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Published on the LAN.
    Wanted,
    /// Outside `import`.
    Filtered,
    /// No valid topic.
    Garbage,
}

/// What one import task keeps from its previous message: its topic and what becomes of it, and its sender
/// (node id, name and site as its header said them) with the name it is published under on the LAN.
#[derive(Default)]
pub(crate) struct LastImport {
    topic: Option<(String, Verdict)>,
    sender: Option<(NodeId, String, String, String)>,
}

impl LastImport {
    /// What becomes of a message on `topic` (`judge` asked once for a run of messages on it).
    fn verdict(&mut self, topic: &str, judge: impl FnOnce(&str) -> Verdict) -> Verdict {
        match &self.topic {
            Some((known, verdict)) if known == topic => *verdict,
            _ => {
                let verdict = judge(topic);
                self.topic = Some((topic.to_owned(), verdict));
                verdict
            }
        }
    }

    /// The node id and `name@site` of the sender a header names (`None` when it gave no node id: a Herald
    /// message on a topic always has one).
    fn sender(&mut self, said: Sender<'_>) -> Option<(NodeId, &str)> {
        let id = said.id?;
        let known = matches!(&self.sender, Some((known, name, site, _))
            if *known == id && name == said.name && site == said.site);
        if !known {
            let address = herald_core::bridge::peer_address(said.name, Some(said.site));
            self.sender = Some((id, said.name.to_owned(), said.site.to_owned(), address));
        }
        self.sender
            .as_ref()
            .map(|(id, _, _, address)| (*id, address.as_str()))
    }
}

/// Publishes one message on NATS, counted.
pub(crate) async fn publish(node: &Node, client: &Client, message: Outgoing) {
    let counters = node.site_counters();
    match client
        .publish_with_headers(message.subject, message.headers, message.payload)
        .await
    {
        Ok(()) => bump(&counters.published),
        Err(err) => {
            bump(&counters.publish_failed);
            tracing::debug!(%err, "NATS would not take a message");
        }
    }
}
