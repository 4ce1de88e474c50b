//! [`Awaiting`]: the questions this node asked and awaits, the sans-IO [`Questions`] book behind one lock, and
//! the channel that carries each question's outcomes to its caller. Answers are handed in by link readers,
//! departed peers and failed links settle the names waiting on them, and the caller's own deadline settles
//! the rest, so no timer task is needed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_core::frame::AnswerBody;
use herald_core::NodeId;
use tokio::sync::mpsc;

use crate::questions::{AnswerEffect, AskError, Finished, Outcome, QuestionId, Questions};

/// What a waiting caller is told.
pub(crate) enum Step {
    /// One name's outcome.
    Outcome(Outcome),
    /// Every name settled: the final map.
    Finished(Finished),
}

/// Questions this node is waiting on, and where each one's outcomes go.
pub(crate) struct Awaiting {
    questions: Mutex<Questions>,
    /// One bounded channel per question, sized to hold every outcome plus the final map, so a send never
    /// finds it full.
    waiters: Mutex<HashMap<QuestionId, mpsc::Sender<Step>>>,
}

impl Awaiting {
    /// At most `max_pending` questions in flight.
    pub fn new(max_pending: usize) -> Self {
        Awaiting {
            questions: Mutex::new(Questions::new(max_pending)),
            waiters: Mutex::new(HashMap::new()),
        }
    }

    fn questions(&self) -> MutexGuard<'_, Questions> {
        self.questions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dispatch(&self, outcomes: Vec<Outcome>, finished: Vec<Finished>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for outcome in outcomes {
            if let Some(tx) = waiters.get(&outcome.id) {
                let _ = tx.try_send(Step::Outcome(outcome));
            }
        }
        for done in finished {
            if let Some(tx) = waiters.remove(&done.id) {
                let _ = tx.try_send(Step::Finished(done));
            }
        }
    }

    /// An answer frame from `from`; false when it was discarded (late, unknown question, not asked).
    pub fn answer(&self, id: QuestionId, from: NodeId, body: AnswerBody) -> bool {
        let effect = self.questions().answer(id, from, body, Instant::now());
        match effect {
            AnswerEffect::Settled(outcome, finished) => {
                self.dispatch(vec![outcome], finished.into_iter().collect());
                true
            }
            AnswerEffect::Discarded => false,
        }
    }

    /// Node `node` left or was lost (`failure: None`) or its link failed: settle every name waiting on it.
    pub fn node_gone(&self, node: NodeId, failure: Option<String>) {
        let (outcomes, finished) = self.questions().node_gone(node, failure);
        if !outcomes.is_empty() {
            self.dispatch(outcomes, finished);
        }
    }

    /// Settles every overdue name with `Timeout` (its question's final map follows).
    pub fn expire(&self) {
        let (outcomes, finished) = self.questions().expire(Instant::now());
        self.dispatch(outcomes, finished);
    }

    /// Starts a question to `targets` (names, with the node each is waited on under; `None`: unknown) at
    /// `now`: its id and the channel its outcomes arrive on (names settled at once, unknown ones, are on it
    /// already).
    pub fn start(
        &self,
        targets: Vec<(String, Option<NodeId>)>,
        timeout: Duration,
        now: Instant,
    ) -> Result<(QuestionId, mpsc::Receiver<Step>), AskError> {
        let (tx, rx) = mpsc::channel(targets.len() + 1);
        let (id, immediate, finished) = self.questions().start(targets, timeout, now)?;
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.dispatch(immediate, finished.into_iter().collect());
        Ok((id, rx))
    }

    /// The names question `id` still waits on, with their nodes.
    pub fn waiting_on(&self, id: QuestionId) -> Vec<(String, NodeId)> {
        self.questions().waiting_on(id)
    }

    /// The caller of question `id` went away: nothing more is sent to it.
    pub fn abandon(&self, id: QuestionId) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}
