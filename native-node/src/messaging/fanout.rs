//! [`FanOut`]: where the topic published last goes (its subscribers and their open links, and whether this
//! node subscribes to it itself), kept while neither the routes, the links nor this node's subscriptions
//! change, so a run of messages on one topic looks nothing up per message; the message being published,
//! encoded once for every link; and the publish sequence.

use herald_core::NodeId;

use crate::link::LinkSender;
use crate::queue::EncodedPublish;

/// The generations of what a fan-out is found from; any change makes a cached one stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Generations {
    /// Who on the LAN subscribes to what.
    pub routes: u64,
    /// The outbound links.
    pub links: u64,
    /// This node's own subscriptions.
    pub local: u64,
}

/// The cached fan-out of one topic. See the module doc.
#[derive(Default)]
pub(crate) struct FanOut {
    topic: Option<String>,
    /// What the targets were found at.
    generations: Generations,
    /// Each subscriber, with its open link when it had one.
    targets: Vec<(NodeId, Option<LinkSender>)>,
    /// This node subscribes to the topic itself.
    here: bool,
    /// The message being published, encoded in place.
    pub encoded: EncodedPublish,
    /// Where a large message is encoded before it is shared.
    pub scratch: Vec<u8>,
    /// The last sequence number given to a published message (kept here, under the lock every publish
    /// takes anyway).
    seq: u64,
}

impl FanOut {
    /// True when the cache holds `topic` as of `generations`: nothing to look up.
    pub fn is_current(&self, topic: &str, generations: Generations) -> bool {
        self.generations == generations && self.topic.as_deref() == Some(topic)
    }

    /// Replaces the cache: `topic`'s targets as of `generations`, filled in by `fill`, and whether this node
    /// subscribes to it (`here`).
    pub fn refill(
        &mut self,
        topic: &str,
        generations: Generations,
        here: bool,
        fill: impl FnOnce(&mut Vec<(NodeId, Option<LinkSender>)>),
    ) {
        self.targets.clear();
        fill(&mut self.targets);
        self.topic = Some(topic.to_owned());
        self.generations = generations;
        self.here = here;
    }

    /// The next sequence number for a published message.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// True when this node subscribes to the cached topic.
    pub fn here(&self) -> bool {
        self.here
    }

    /// The cached subscribers and their links.
    pub fn targets(&self) -> &[(NodeId, Option<LinkSender>)] {
        &self.targets
    }
}
