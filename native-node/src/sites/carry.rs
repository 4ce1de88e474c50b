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

use super::endpoint::{from_value, sender_headers, Outgoing};
use super::subjects::{self, Sender};
use crate::messaging::Message;
use crate::stats::bump;
use crate::topics::TopicPattern;
use crate::Node;

/// What the subscription tasks of one gateway share.
pub(crate) struct Carrier {
    pub node: Arc<Node>,
    /// The topics connection (messages on Herald topics, both ways).
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
    /// subject of the previous export's topic (a run of messages on one topic builds it once) and the headers
    /// of its recent senders (built once per sender).
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
        let headers = last.headers(&self.site, message.from, &message.from_name);
        let outgoing = Outgoing {
            subject: last.topic.as_ref()?.1.clone(),
            headers,
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
        let said = last.sender(from_value(&message));
        if said.site.as_deref() == Some(self.site.as_str()) {
            return; // ours (a second gateway of this site would echo it)
        }
        if verdict == Verdict::Filtered {
            bump(&counters.filtered);
            return;
        }
        // A Herald sender: in its own name (`name@site`); a plain NATS client: in the gateway's.
        let published = match &said.publish_as {
            Some((id, name)) => {
                self.node
                    .publish_as(*id, name, topic, &message.payload)
                    .await
            }
            None => self.node.publish(topic, &message.payload).await,
        };
        if let Err(err) = published {
            tracing::debug!(%topic, %err, "a message from another site not published on the LAN");
        }
    }
}

/// Senders whose headers one export task keeps; the one heard from longest ago is forgotten for a new one.
pub(crate) const SENDERS_KEPT: usize = 64;

/// What one export task keeps: the NATS subject of its previous message's topic, and the headers naming its
/// recent senders, most recent first (a publisher's run costs one comparison; several publishers taking turns
/// a short scan, not a header built per message).
#[derive(Default)]
pub(crate) struct LastExport {
    topic: Option<(SmolStr, Subject)>,
    senders: Vec<(NodeId, SmolStr, HeaderMap)>,
}

impl LastExport {
    /// The headers naming `from` (`name` at `site`), built once while it is among the [`SENDERS_KEPT`] most
    /// recent senders.
    fn headers(&mut self, site: &str, from: NodeId, name: &SmolStr) -> HeaderMap {
        let known = self
            .senders
            .iter()
            .position(|(id, known, _)| *id == from && known == name);
        match known {
            Some(0) => {}
            Some(at) => self.senders[..=at].rotate_right(1),
            None => {
                self.senders.truncate(SENDERS_KEPT - 1);
                let headers = sender_headers(site, name, Some(from));
                self.senders.insert(0, (from, name.clone(), headers));
            }
        }
        self.senders[0].2.clone()
    }
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

/// What one import task keeps from its previous message: its topic and what becomes of it, and what its
/// `Herald-From` header said (parsed once for a run of messages from one sender).
#[derive(Default)]
pub(crate) struct LastImport {
    topic: Option<(String, Verdict)>,
    said: Said,
}

/// What a `Herald-From` header value (or its absence) says.
#[derive(Default)]
struct Said {
    /// The value as it came (`None`: no header).
    value: Option<String>,
    /// The sending site, when the value is well-formed.
    site: Option<String>,
    /// The node id and `name@site` the message is published under on the LAN; `None` for a plain NATS
    /// client's message (no header, a malformed one, or no node id), published in the gateway's name.
    publish_as: Option<(NodeId, String)>,
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

    /// What the `Herald-From` value `value` says (parsed only when it differs from the previous one).
    fn sender(&mut self, value: Option<&str>) -> &Said {
        if self.said.value.as_deref() != value {
            let sender = value.and_then(Sender::parse);
            self.said = Said {
                value: value.map(str::to_owned),
                site: sender.map(|s| s.site.to_owned()),
                publish_as: sender.and_then(|s| {
                    let address = herald_core::bridge::peer_address(s.name, Some(s.site));
                    Some((s.id?, address))
                }),
            };
        }
        &self.said
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::endpoint::FROM;

    #[test]
    fn a_senders_header_is_read_once_per_run_and_plain_clients_get_the_gateways_name() {
        let mut last = LastImport::default();
        let id = NodeId([0xab; 16]);
        let value = format!("a {id} kitchen sensor");
        let said = last.sender(Some(&value));
        assert_eq!(said.site.as_deref(), Some("a"));
        assert_eq!(
            said.publish_as
                .as_ref()
                .map(|(id, name)| (*id, name.as_str())),
            Some((id, "kitchen sensor@a"))
        );
        // The same value again: kept as it was (compared, not parsed: a new parse would build a new name
        // while the old one is still alive, at another address).
        let built = last.said.publish_as.as_ref().unwrap().1.as_ptr();
        let again = last.sender(Some(&value)).publish_as.as_ref().unwrap();
        assert_eq!(again.1.as_ptr(), built);
        // Another sender, then a plain client (no header), then garbage: in the gateway's name.
        let other = last.sender(Some("b - a1"));
        assert_eq!(other.site.as_deref(), Some("b"));
        assert!(
            other.publish_as.is_none(),
            "no node id: not a topic message's sender"
        );
        let plain = last.sender(None);
        assert!(plain.site.is_none() && plain.publish_as.is_none());
        let garbage = last.sender(Some("not a sender"));
        assert!(garbage.site.is_none() && garbage.publish_as.is_none());
    }

    #[test]
    fn recent_senders_headers_are_built_once_and_the_oldest_forgotten() {
        let mut last = LastExport::default();
        let value = |headers: &HeaderMap| headers.get(FROM).map(|v| v.as_str().to_owned());
        let kept = |last: &LastExport| last.senders[0].2.get(FROM).unwrap().as_str().as_ptr();
        let (a, b) = (NodeId([1; 16]), NodeId([2; 16]));
        let first = last.headers("s", a, &"a1".into());
        assert_eq!(value(&first), Some(format!("s {a} a1")));
        let built = kept(&last);
        last.headers("s", b, &"b1".into());
        // a again: found (moved to the front), not built again.
        let again = last.headers("s", a, &"a1".into());
        assert_eq!(value(&again), Some(format!("s {a} a1")));
        assert_eq!(last.senders[0].0, a);
        assert_eq!(kept(&last), built);
        // A sender renamed is built anew.
        let renamed = last.headers("s", a, &"a2".into());
        assert_eq!(value(&renamed), Some(format!("s {a} a2")));
        // Bounded: the least recent go first.
        for i in 0..SENDERS_KEPT as u8 + 5 {
            last.headers("s", NodeId([i + 10; 16]), &"n".into());
        }
        assert_eq!(last.senders.len(), SENDERS_KEPT);
        assert!(last.senders.iter().all(|(id, _, _)| *id != b));
    }

    #[test]
    fn a_topics_verdict_is_asked_once_per_run() {
        let mut last = LastImport::default();
        let mut asked = 0;
        for topic in ["a", "a", "a", "b", "b"] {
            last.verdict(topic, |_| {
                asked += 1;
                Verdict::Wanted
            });
        }
        assert_eq!(asked, 2);
    }
}
