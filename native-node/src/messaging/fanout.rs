//! [`FanOut`]: where the topic published last goes (its subscribers and their open links), kept while neither
//! the routes nor the links change, so a run of messages on one topic looks nothing up per message; and the
//! buffer messages are encoded in (each message is encoded once, the same bytes queued on every link).

use std::sync::Arc;

use herald_core::NodeId;

use crate::link::LinkSender;

/// The cached fan-out of one topic. See the module doc.
#[derive(Default)]
pub(crate) struct FanOut {
    topic: Option<Arc<str>>,
    /// The routes' and the links' generations the targets were found at.
    generations: (u64, u64),
    /// Each subscriber, with its open link when it had one.
    targets: Vec<(NodeId, Option<LinkSender>)>,
    /// Where the message is encoded.
    pub scratch: Vec<u8>,
}

impl FanOut {
    /// True when the cache holds `topic` as of `generations` (routes, links): nothing to look up.
    pub fn is_current(&self, topic: &str, generations: (u64, u64)) -> bool {
        self.generations == generations && self.topic.as_deref() == Some(topic)
    }

    /// Replaces the cache: `topic`'s targets as of `generations`, filled in by `fill`.
    pub fn refill(
        &mut self,
        topic: &str,
        generations: (u64, u64),
        fill: impl FnOnce(&mut Vec<(NodeId, Option<LinkSender>)>),
    ) {
        self.targets.clear();
        fill(&mut self.targets);
        self.topic = Some(topic.into());
        self.generations = generations;
    }

    /// The cached topic (shared by every copy queued).
    pub fn topic(&self) -> Option<&Arc<str>> {
        self.topic.as_ref()
    }

    /// The cached subscribers and their links.
    pub fn targets(&self) -> &[(NodeId, Option<LinkSender>)] {
        &self.targets
    }
}
