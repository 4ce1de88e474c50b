//! Asking peers questions: [`ask`] sends a question over each named peer's link (or to the legacy peer this
//! node is the gateway of), and [`Ask`] is the caller's handle: outcomes as they arrive, then the final map.
//! The bookkeeping is [`Awaiting`](crate::awaiting::Awaiting)'s (answers come in on the link readers); the
//! deadline is checked by the waiting caller, so no timer task is needed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::frame::{AnswerBody, Question, Relayed};
use herald_core::{AskOutcome, NodeId, Payload};
use tokio::sync::mpsc;

use crate::awaiting::Step;
use crate::messaging::sender_for;
use crate::questions::{AskError, QuestionId};
use crate::shared::Shared;
use crate::stats::bump;

/// Longest timeout a question may carry.
pub const MAX_ASK_TIMEOUT: Duration = Duration::from_secs(3600);

/// One step of a question's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskProgress {
    /// One name's outcome, as soon as it is known.
    Outcome {
        /// The asked name.
        name: String,
        /// What came of it.
        outcome: AskOutcome,
    },
    /// Every name has an outcome; nothing follows.
    Done(BTreeMap<String, AskOutcome>),
}

/// A question in flight: read its outcomes with [`Ask::next`], or wait for all of them with [`Ask::finish`].
/// Dropping it abandons the question (answers then arriving are counted as discarded).
pub struct Ask {
    id: QuestionId,
    deadline: Instant,
    rx: mpsc::Receiver<Step>,
    shared: Arc<Shared>,
    done: bool,
}

impl Ask {
    /// This question's id (unique for the node's run).
    pub fn id(&self) -> QuestionId {
        self.id
    }

    /// The next outcome, then [`AskProgress::Done`] with every name's outcome, then `None`.
    pub async fn next(&mut self) -> Option<AskProgress> {
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                step = self.rx.recv() => {
                    return match step {
                        Some(Step::Outcome(o)) => Some(AskProgress::Outcome { name: o.name, outcome: o.outcome }),
                        Some(Step::Finished(f)) => {
                            self.done = true;
                            Some(AskProgress::Done(f.outcomes))
                        }
                        // The node shut down under us.
                        None => {
                            self.done = true;
                            None
                        }
                    };
                }
                _ = tokio::time::sleep_until(self.deadline.into()) => {
                    // Settles this question (and any other overdue one) with `Timeout`; the final map follows.
                    self.shared.awaiting.expire();
                    self.deadline = Instant::now() + Duration::from_secs(3600);
                }
            }
        }
    }

    /// Waits for every name's outcome.
    pub async fn finish(mut self) -> BTreeMap<String, AskOutcome> {
        while let Some(progress) = self.next().await {
            if let AskProgress::Done(outcomes) = progress {
                return outcomes;
            }
        }
        BTreeMap::new()
    }
}

impl Drop for Ask {
    fn drop(&mut self) {
        self.shared.awaiting.abandon(self.id);
    }
}

/// Asks `names` (each at most once) `question`, with `timeout`; sends the question over each live peer's link
/// and returns the handle that collects the outcomes.
pub(crate) async fn ask(
    shared: &Arc<Shared>,
    names: Vec<String>,
    question: Payload,
    timeout: Duration,
) -> Result<Ask, AskError> {
    let timeout = timeout.min(MAX_ASK_TIMEOUT);
    let asking = &shared.awaiting;
    // Questions whose callers went away are settled here, so they do not hold places forever.
    asking.expire();
    let mut names = names;
    names.sort();
    names.dedup();
    let targets: Vec<(String, Option<NodeId>)> = {
        let table = shared.table();
        names
            .into_iter()
            .map(|name| {
                // A proxied peer is waited on under its own id (its gateway relays its answer in its name).
                let node = table
                    .target_by_name(&name)
                    .map(|t| t.proxied.unwrap_or(t.node_id));
                (name, node)
            })
            .collect()
    };
    let now = Instant::now();
    let (id, rx) = asking.start(targets, timeout, now)?;
    bump(&shared.messaging.counters.questions_asked);
    let waiting = asking.waiting_on(id);
    // Fits: MAX_ASK_TIMEOUT is an hour.
    let timeout_ms = timeout.as_millis() as u32;
    for (name, node) in waiting {
        let (target, kind) = {
            let table = shared.table();
            let kind = table.by_name(&name).map(|p| p.kind).unwrap_or_default();
            (table.target(&node), kind)
        };
        if let Err(reason) = crate::relaying::carriable(kind, &question, true) {
            asking.answer(id, node, AnswerBody::Failed(reason));
            continue;
        }
        if let Some(peer) = target
            .as_ref()
            .and_then(|t| crate::relaying::local_proxy(shared, t))
        {
            crate::relaying::ask_here(shared, id, peer, question.clone(), timeout);
            continue;
        }
        let queued = match target.and_then(|t| sender_for(shared, &t).map(|s| (t, s))) {
            Some((target, sender)) => {
                let frame = crate::relaying::addressed(
                    &target,
                    Relayed::Question(Question {
                        id,
                        timeout_ms,
                        payload: question.clone(),
                    }),
                );
                sender.send(frame).await.map_err(|e| e.to_string())
            }
            None => Err("no link to the peer".to_owned()),
        };
        if let Err(reason) = queued {
            tracing::debug!(peer = %name, %reason, "question not sent");
            asking.answer(id, node, AnswerBody::Failed(format!("not sent: {reason}")));
        }
    }
    Ok(Ask {
        id,
        deadline: now + timeout,
        rx,
        shared: shared.clone(),
        done: false,
    })
}
