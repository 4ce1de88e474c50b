//! This node's own subscriptions ([`LocalTopics`]), and the links other nodes opened to it, which are told
//! every change: both behind one lock, so a change and the whole list sent to a newly accepted link never
//! cross (the link gets the list, then every later change, in order).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use herald_core::frame::Frame;

use crate::link::LinkSender;
use crate::topics::TopicPattern;

/// Patterns per `Subscribe` frame when a node sends its whole list (255-byte patterns keep it under 64 KiB).
pub const PATTERNS_PER_FRAME: usize = 256;

/// This node's subscriptions and the accepted links that hear of their changes.
#[derive(Default)]
pub(crate) struct LocalTopics {
    /// Held for a lookup or a change and its frames' queueing (never waiting); never across an `.await`.
    inner: Mutex<Local>,
    /// Changes with every change of the subscriptions (bumped under the lock), so a publisher can cache
    /// whether it wants a topic.
    generation: AtomicU64,
}

#[derive(Default)]
struct Local {
    patterns: BTreeSet<TopicPattern>,
    /// Links other nodes opened to this one (closed ones are pruned at each change).
    accepted: Vec<LinkSender>,
}

impl LocalTopics {
    fn lock(&self) -> MutexGuard<'_, Local> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a subscription and tells every accepted link; true if it is new.
    pub fn subscribe(&self, pattern: TopicPattern) -> bool {
        let mut local = self.lock();
        let frame = Frame::Subscribe {
            topics: vec![pattern.to_string()],
        };
        let new = local.patterns.insert(pattern);
        if new {
            self.generation.fetch_add(1, Ordering::Release);
            local.tell_accepted(frame);
        }
        new
    }

    /// Removes a subscription and tells every accepted link; true if it was there.
    pub fn unsubscribe(&self, pattern: &TopicPattern) -> bool {
        let mut local = self.lock();
        let removed = local.patterns.remove(pattern);
        if removed {
            self.generation.fetch_add(1, Ordering::Release);
            local.tell_accepted(Frame::Unsubscribe {
                topics: vec![pattern.to_string()],
            });
        }
        removed
    }

    /// The subscriptions, as announced in beacons.
    pub fn patterns(&self) -> Vec<String> {
        self.lock().patterns.iter().map(|p| p.to_string()).collect()
    }

    /// Changes whenever the subscriptions change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True when a subscription matches `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        self.lock().patterns.iter().any(|p| p.matches(topic))
    }

    /// A link another node opened to this one: it is sent the whole list now (at least one frame, even
    /// empty, so the peer drops what an older link said) and every change from now on.
    pub fn accepted(&self, link: &LinkSender, peer: &str) {
        let mut local = self.lock();
        let patterns: Vec<String> = local.patterns.iter().map(|p| p.to_string()).collect();
        let mut frames: Vec<Frame> = patterns
            .chunks(PATTERNS_PER_FRAME)
            .map(|chunk| Frame::Subscribe {
                topics: chunk.to_vec(),
            })
            .collect();
        if frames.is_empty() {
            frames.push(Frame::Subscribe { topics: Vec::new() });
        }
        for frame in frames {
            if let Err(err) = link.try_send(frame) {
                tracing::debug!(%peer, %err, "subscription list not sent");
            }
        }
        local.accepted.retain(|l| !l.is_closed());
        local.accepted.push(link.clone());
    }
}

impl Local {
    /// Sends a subscription change on every accepted link (closed ones are pruned).
    fn tell_accepted(&mut self, frame: Frame) {
        self.accepted.retain(|link| !link.is_closed());
        for link in &self.accepted {
            if let Err(err) = link.try_send(frame.clone()) {
                tracing::debug!(%err, "subscription change not sent");
            }
        }
    }
}
