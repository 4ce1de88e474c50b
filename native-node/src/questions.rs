//! Questions in flight, sans-IO: [`Questions`] tracks each asked name until it answers, its node leaves, the
//! deadline passes or the answerer fails, and yields every name's [`AskOutcome`]. Late answers (after the
//! deadline, or to a question that is finished) are reported as such so the caller can count and drop them.
//! Times are passed in; the messaging task drives it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use herald_core::frame::AnswerBody;
use herald_core::{AskOutcome, NoAnswer, NodeId};

/// Default bound on questions in flight; [`Questions::start`] refuses beyond it.
pub const DEFAULT_MAX_PENDING: usize = 4096;

/// A question's id, unique per node run.
pub type QuestionId = u64;

/// Why a question could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// Too many questions in flight.
    #[error("{0} questions are already waiting for answers")]
    TooManyPending(usize),
}

/// One name's outcome, as soon as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The question.
    pub id: QuestionId,
    /// The asked name.
    pub name: String,
    /// What came of it.
    pub outcome: AskOutcome,
}

/// A question every asked name has an outcome for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The question.
    pub id: QuestionId,
    /// Outcome per asked name.
    pub outcomes: BTreeMap<String, AskOutcome>,
}

/// What an answer frame did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerEffect {
    /// It settled a name; the question may now be finished.
    Settled(Outcome, Option<Finished>),
    /// Too late, unknown question, or not from a node that was asked: discard (and count).
    Discarded,
}

#[derive(Debug)]
struct Pending {
    asked_at: Instant,
    deadline: Instant,
    /// Names still waiting, with the node each was sent to.
    waiting: BTreeMap<String, NodeId>,
    outcomes: BTreeMap<String, AskOutcome>,
}

/// Every question this node is waiting on.
#[derive(Debug)]
pub struct Questions {
    next_id: QuestionId,
    max_pending: usize,
    pending: HashMap<QuestionId, Pending>,
}

impl Questions {
    /// No questions; at most `max_pending` in flight.
    pub fn new(max_pending: usize) -> Self {
        Questions {
            next_id: 1,
            max_pending,
            pending: HashMap::new(),
        }
    }

    /// Starts a question to `targets` (name, and the live node with that name if any) with `timeout`.
    /// Names with no live node get `NoAnswer(UnknownPeer)` at once. Returns the id, the immediate outcomes,
    /// and the question if it is already finished (every name unknown, or no names).
    pub fn start(
        &mut self,
        targets: Vec<(String, Option<NodeId>)>,
        timeout: Duration,
        now: Instant,
    ) -> Result<(QuestionId, Vec<Outcome>, Option<Finished>), AskError> {
        if self.pending.len() >= self.max_pending {
            return Err(AskError::TooManyPending(self.pending.len()));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut pending = Pending {
            asked_at: now,
            deadline: now + timeout,
            waiting: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        };
        let mut immediate = Vec::new();
        for (name, node) in targets {
            match node {
                Some(node) => {
                    pending.waiting.insert(name, node);
                }
                None => {
                    let outcome = AskOutcome::NoAnswer(NoAnswer::UnknownPeer);
                    pending.outcomes.insert(name.clone(), outcome.clone());
                    immediate.push(Outcome { id, name, outcome });
                }
            }
        }
        if pending.waiting.is_empty() {
            return Ok((
                id,
                immediate,
                Some(Finished {
                    id,
                    outcomes: pending.outcomes,
                }),
            ));
        }
        self.pending.insert(id, pending);
        Ok((id, immediate, None))
    }

    /// The nodes question `id` still waits on (to send the question to).
    pub fn waiting_on(&self, id: QuestionId) -> Vec<(String, NodeId)> {
        self.pending
            .get(&id)
            .map(|p| p.waiting.iter().map(|(n, id)| (n.clone(), *id)).collect())
            .unwrap_or_default()
    }

    /// An answer (or failure) to question `id` from node `from`, received at `now`.
    pub fn answer(
        &mut self,
        id: QuestionId,
        from: NodeId,
        body: AnswerBody,
        now: Instant,
    ) -> AnswerEffect {
        let Some(pending) = self.pending.get_mut(&id) else {
            return AnswerEffect::Discarded;
        };
        if now > pending.deadline {
            return AnswerEffect::Discarded;
        }
        let Some(name) = pending
            .waiting
            .iter()
            .find(|(_, node)| **node == from)
            .map(|(name, _)| name.clone())
        else {
            return AnswerEffect::Discarded;
        };
        let outcome = match body {
            AnswerBody::Answered(payload) => {
                let latency_ms = now.saturating_duration_since(pending.asked_at).as_millis() as u64;
                AskOutcome::Answered {
                    payload,
                    latency_ms,
                }
            }
            AnswerBody::Failed(reason) => AskOutcome::NoAnswer(NoAnswer::Failed(reason)),
            AnswerBody::NoAnswer(reason) => AskOutcome::NoAnswer(reason),
        };
        self.settle(id, &name, outcome)
    }

    /// Node `node` left or was lost, or its link failed with `reason`: every name waiting on it gets
    /// `PeerLeft` (or `Failed(reason)`).
    pub fn node_gone(
        &mut self,
        node: NodeId,
        failure: Option<String>,
    ) -> (Vec<Outcome>, Vec<Finished>) {
        let affected: Vec<(QuestionId, String)> = self
            .pending
            .iter()
            .flat_map(|(id, p)| {
                p.waiting
                    .iter()
                    .filter(|(_, n)| **n == node)
                    .map(|(name, _)| (*id, name.clone()))
            })
            .collect();
        let mut outcomes = Vec::new();
        let mut finished = Vec::new();
        for (id, name) in affected {
            let outcome = match &failure {
                Some(reason) => AskOutcome::NoAnswer(NoAnswer::Failed(reason.clone())),
                None => AskOutcome::NoAnswer(NoAnswer::PeerLeft),
            };
            if let AnswerEffect::Settled(outcome, done) = self.settle(id, &name, outcome) {
                outcomes.push(outcome);
                finished.extend(done);
            }
        }
        (outcomes, finished)
    }

    /// Questions whose deadline passed: their remaining names get `Timeout`.
    pub fn expire(&mut self, now: Instant) -> (Vec<Outcome>, Vec<Finished>) {
        let due: Vec<QuestionId> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(id, _)| *id)
            .collect();
        let mut outcomes = Vec::new();
        let mut finished = Vec::new();
        for id in due {
            let mut pending = self.pending.remove(&id).expect("due questions are pending");
            for name in std::mem::take(&mut pending.waiting).into_keys() {
                let outcome = AskOutcome::NoAnswer(NoAnswer::Timeout);
                pending.outcomes.insert(name.clone(), outcome.clone());
                outcomes.push(Outcome { id, name, outcome });
            }
            finished.push(Finished {
                id,
                outcomes: pending.outcomes,
            });
        }
        (outcomes, finished)
    }

    /// The earliest deadline, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Questions in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no question is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn settle(&mut self, id: QuestionId, name: &str, outcome: AskOutcome) -> AnswerEffect {
        let pending = self
            .pending
            .get_mut(&id)
            .expect("settling a pending question");
        pending.waiting.remove(name);
        pending.outcomes.insert(name.to_owned(), outcome.clone());
        let settled = Outcome {
            id,
            name: name.to_owned(),
            outcome,
        };
        if !pending.waiting.is_empty() {
            return AnswerEffect::Settled(settled, None);
        }
        let pending = self.pending.remove(&id).expect("present");
        AnswerEffect::Settled(
            settled,
            Some(Finished {
                id,
                outcomes: pending.outcomes,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId([1; 16]);
    const B: NodeId = NodeId([2; 16]);

    fn targets() -> Vec<(String, Option<NodeId>)> {
        vec![
            ("alpha".into(), Some(A)),
            ("bravo".into(), Some(B)),
            ("ghost".into(), None),
        ]
    }

    #[test]
    fn one_answers_one_times_out_one_does_not_exist() {
        let (mut q, t0) = (Questions::new(8), Instant::now());
        let (id, immediate, done) = q.start(targets(), Duration::from_millis(500), t0).unwrap();
        assert!(done.is_none());
        assert_eq!(
            immediate,
            vec![Outcome {
                id,
                name: "ghost".into(),
                outcome: AskOutcome::NoAnswer(NoAnswer::UnknownPeer)
            }]
        );
        assert_eq!(
            q.waiting_on(id),
            vec![("alpha".to_owned(), A), ("bravo".to_owned(), B)]
        );
        let effect = q.answer(
            id,
            A,
            AnswerBody::Answered("42".into()),
            t0 + Duration::from_millis(3),
        );
        let AnswerEffect::Settled(outcome, None) = effect else {
            panic!("{effect:?}")
        };
        assert_eq!(
            outcome.outcome,
            AskOutcome::Answered {
                payload: "42".into(),
                latency_ms: 3
            }
        );
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(500)));
        let (outcomes, finished) = q.expire(t0 + Duration::from_millis(500));
        assert_eq!(outcomes.len(), 1);
        let finished = &finished[0];
        assert_eq!(
            finished.outcomes["alpha"],
            AskOutcome::Answered {
                payload: "42".into(),
                latency_ms: 3
            }
        );
        assert_eq!(
            finished.outcomes["bravo"],
            AskOutcome::NoAnswer(NoAnswer::Timeout)
        );
        assert_eq!(
            finished.outcomes["ghost"],
            AskOutcome::NoAnswer(NoAnswer::UnknownPeer)
        );
        // Bravo's answer arrives after all: discarded.
        assert_eq!(
            q.answer(
                id,
                B,
                AnswerBody::Answered("late".into()),
                t0 + Duration::from_secs(1)
            ),
            AnswerEffect::Discarded
        );
        assert!(q.is_empty());
    }

    #[test]
    fn the_last_answer_finishes_the_question_before_its_deadline() {
        let (mut q, t0) = (Questions::new(8), Instant::now());
        let (id, _, _) = q
            .start(targets()[..2].to_vec(), Duration::from_secs(5), t0)
            .unwrap();
        q.answer(id, B, AnswerBody::Failed("handler panicked".into()), t0);
        let AnswerEffect::Settled(_, Some(finished)) =
            q.answer(id, A, AnswerBody::Answered("x".into()), t0)
        else {
            panic!("not finished")
        };
        assert_eq!(
            finished.outcomes["bravo"],
            AskOutcome::NoAnswer(NoAnswer::Failed("handler panicked".into()))
        );
        assert!(q.is_empty());
    }

    #[test]
    fn answers_from_strangers_or_twice_are_discarded() {
        let (mut q, t0) = (Questions::new(8), Instant::now());
        let (id, _, _) = q
            .start(targets()[..2].to_vec(), Duration::from_secs(5), t0)
            .unwrap();
        assert_eq!(
            q.answer(id, NodeId([9; 16]), AnswerBody::Answered("x".into()), t0),
            AnswerEffect::Discarded
        );
        assert_eq!(
            q.answer(id + 1, A, AnswerBody::Answered("x".into()), t0),
            AnswerEffect::Discarded
        );
        assert!(matches!(
            q.answer(id, A, AnswerBody::Answered("x".into()), t0),
            AnswerEffect::Settled(..)
        ));
        assert_eq!(
            q.answer(id, A, AnswerBody::Answered("x".into()), t0),
            AnswerEffect::Discarded
        );
    }

    #[test]
    fn a_node_leaving_settles_its_names_as_peer_left() {
        let (mut q, t0) = (Questions::new(8), Instant::now());
        let (id, _, _) = q
            .start(vec![("bravo".into(), Some(B))], Duration::from_secs(5), t0)
            .unwrap();
        let (outcomes, finished) = q.node_gone(B, None);
        assert_eq!(
            outcomes[0].outcome,
            AskOutcome::NoAnswer(NoAnswer::PeerLeft)
        );
        assert_eq!(finished[0].id, id);
    }

    #[test]
    fn only_unknown_names_finish_at_once_and_the_bound_holds() {
        let (mut q, t0) = (Questions::new(1), Instant::now());
        let (_, _, done) = q
            .start(vec![("ghost".into(), None)], Duration::from_secs(1), t0)
            .unwrap();
        assert!(done.is_some());
        q.start(vec![("alpha".into(), Some(A))], Duration::from_secs(1), t0)
            .unwrap();
        assert_eq!(
            q.start(vec![("alpha".into(), Some(A))], Duration::from_secs(1), t0),
            Err(AskError::TooManyPending(1))
        );
    }
}
