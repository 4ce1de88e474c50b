//! Questions asked from this page: each asked peer's outcome as it arrives, then the final state.

use std::collections::BTreeMap;

use herald_core::bridge::Targets;
use herald_core::{AskOutcome, Payload};

use super::vec_map::VecMap;

/// Questions kept; older ones are forgotten.
pub const MAX_ASKS: usize = 50;

/// One question and what came of it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskView {
    /// The bridge's id for it.
    pub question_id: u64,
    /// Whom it was for.
    pub targets: Targets,
    /// The question.
    pub question: Payload,
    /// How long the node waits.
    pub timeout_ms: u64,
    /// Each peer's outcome, as they arrive (all of them once done).
    pub outcomes: BTreeMap<String, AskOutcome>,
    /// True once the final map arrived.
    pub done: bool,
}

impl AskView {
    /// A word for a peer's state: `waiting`, `answered`, `timeout`, `unknown`, `left`, `failed`.
    pub fn state_of(&self, peer: &str) -> &'static str {
        match self.outcomes.get(peer) {
            None => "waiting",
            Some(AskOutcome::Answered { .. }) => "answered",
            Some(AskOutcome::NoAnswer(no)) => match no {
                herald_core::NoAnswer::Timeout => "timeout",
                herald_core::NoAnswer::UnknownPeer => "unknown",
                herald_core::NoAnswer::PeerLeft => "left",
                herald_core::NoAnswer::Failed(_) => "failed",
            },
        }
    }
}

/// Questions by id, newest last.
#[derive(Debug, Default, Clone)]
pub struct Asks {
    asks: VecMap<u64, AskView>,
}

impl Asks {
    /// The bridge accepted a question.
    pub fn start(
        &mut self,
        question_id: u64,
        targets: Targets,
        question: Payload,
        timeout_ms: u64,
    ) {
        self.asks.insert(
            question_id,
            AskView {
                question_id,
                targets,
                question,
                timeout_ms,
                outcomes: BTreeMap::new(),
                done: false,
            },
        );
        if self.asks.len() > MAX_ASKS {
            let oldest = self.asks.len() - MAX_ASKS;
            let mut index = 0;
            self.asks.retain(|_, _| {
                index += 1;
                index > oldest
            });
        }
    }

    /// One peer's outcome.
    pub fn answer(&mut self, question_id: u64, peer: String, outcome: AskOutcome) {
        if let Some(ask) = self.asks.get_mut(&question_id) {
            ask.outcomes.insert(peer, outcome);
        }
    }

    /// The final outcomes.
    pub fn done(&mut self, question_id: u64, outcomes: BTreeMap<String, AskOutcome>) {
        if let Some(ask) = self.asks.get_mut(&question_id) {
            ask.outcomes = outcomes;
            ask.done = true;
        }
    }

    /// What `peer` last answered to `question` (its text), if it did.
    pub fn last_answer(&self, peer: &str, question: &str) -> Option<&str> {
        self.asks
            .values()
            .rev()
            .filter(|ask| ask.question.as_text() == Some(question))
            .find_map(|ask| match ask.outcomes.get(peer) {
                Some(AskOutcome::Answered { payload, .. }) => payload.as_text(),
                _ => None,
            })
    }

    /// Questions whose final outcomes have not arrived yet.
    pub fn waiting(&self) -> usize {
        self.asks.values().filter(|ask| !ask.done).count()
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &AskView> {
        self.asks.values().rev()
    }
}

/// The software a peer's answer to `info` names: `herald 0.1.0` from a Herald node's built-in answer
/// (`{"name": ..., "version": "0.1.0", ...}`), else the answer as it came (a handler of its own answers so).
pub fn software(info_answer: &str) -> String {
    let version = info_answer
        .split_once("\"version\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(version, _)| version);
    match version {
        Some(version) => format!("herald {version}"),
        None => info_answer.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::NoAnswer;

    #[test]
    fn outcomes_arrive_per_peer_then_the_final_map_settles_every_one() {
        let mut asks = Asks::default();
        asks.start(7, Targets::names(["a", "b", "c"]), "ping".into(), 2000);
        let pong = AskOutcome::Answered {
            payload: "pong".into(),
            latency_ms: 3,
        };
        asks.answer(7, "a".into(), pong.clone());
        asks.answer(99, "a".into(), pong.clone());
        let ask = asks.newest_first().next().unwrap();
        assert_eq!(["a", "b"].map(|p| ask.state_of(p)), ["answered", "waiting"]);
        assert!(!ask.done);
        let finals = BTreeMap::from([
            ("a".to_owned(), pong),
            ("b".to_owned(), AskOutcome::NoAnswer(NoAnswer::Timeout)),
            ("c".to_owned(), AskOutcome::NoAnswer(NoAnswer::UnknownPeer)),
        ]);
        asks.done(7, finals);
        let ask = asks.newest_first().next().unwrap();
        assert!(ask.done);
        assert_eq!(
            ["a", "b", "c"].map(|p| ask.state_of(p)),
            ["answered", "timeout", "unknown"]
        );
    }

    #[test]
    fn old_questions_are_forgotten() {
        let mut asks = Asks::default();
        for id in 0..(MAX_ASKS as u64 + 5) {
            asks.start(id, Targets::All, "q".into(), 10);
        }
        assert_eq!(asks.newest_first().count(), MAX_ASKS);
        assert_eq!(asks.newest_first().last().unwrap().question_id, 5);
    }

    #[test]
    fn a_peers_last_info_answer_names_its_software() {
        let mut asks = Asks::default();
        asks.start(1, Targets::from("alpha"), "info".into(), 1000);
        assert_eq!(asks.last_answer("alpha", "info"), None);
        asks.answer(
            1,
            "alpha".into(),
            AskOutcome::Answered {
                payload: r#"{"name":"alpha","services":{},"version":"0.1.0"}"#.into(),
                latency_ms: 1,
            },
        );
        let answer = asks.last_answer("alpha", "info").unwrap();
        assert_eq!(software(answer), "herald 0.1.0");
        assert_eq!(software("a custom handler"), "a custom handler");
    }
}
