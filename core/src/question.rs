//! The outcome of asking a peer a question, the same everywhere: library, CLI `--json` and bridge.

use serde::{Deserialize, Serialize};

use crate::payload::Payload;

/// What came of asking one peer.
///
/// JSON: `{"answered": {"payload": {"text": "42"}, "latency_ms": 3}}`, `{"no_answer": "timeout"}` or
/// `{"no_answer": {"failed": "handler panicked"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum AskOutcome {
    /// The peer answered in time.
    Answered {
        /// The answer.
        payload: Payload,
        /// From sending the question to receiving the answer.
        latency_ms: u64,
    },
    /// No answer, and why.
    NoAnswer(NoAnswer),
}

/// Why a peer gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum NoAnswer {
    /// The timeout passed first; a later answer is discarded.
    #[error("no answer before the timeout")]
    Timeout,
    /// No live peer has that name.
    #[error("no live peer has that name")]
    UnknownPeer,
    /// The peer left or was lost before answering.
    #[error("the peer left before answering")]
    PeerLeft,
    /// The peer's handler returned an error or panicked, or the question could not be delivered.
    #[error("failed: {0}")]
    Failed(String),
}

impl AskOutcome {
    /// The answer's bytes, if answered.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            AskOutcome::Answered { payload, .. } => Some(payload),
            AskOutcome::NoAnswer(_) => None,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_in_both_codecs(outcome: AskOutcome) {
            let json = serde_json::to_string(&outcome).unwrap();
            prop_assert_eq!(&serde_json::from_str::<AskOutcome>(&json).unwrap(), &outcome);
            let bin = postcard::to_allocvec(&outcome).unwrap();
            prop_assert_eq!(postcard::from_bytes::<AskOutcome>(&bin).unwrap(), outcome);
        }
    }

    #[test]
    fn json_shapes_are_the_documented_ones() {
        let answered = AskOutcome::Answered {
            payload: "42".into(),
            latency_ms: 3,
        };
        assert_eq!(
            serde_json::to_string(&answered).unwrap(),
            r#"{"answered":{"payload":{"text":"42"},"latency_ms":3}}"#
        );
        assert_eq!(
            serde_json::to_string(&AskOutcome::NoAnswer(NoAnswer::Timeout)).unwrap(),
            r#"{"no_answer":"timeout"}"#
        );
        assert_eq!(
            serde_json::to_string(&AskOutcome::NoAnswer(NoAnswer::Failed("boom".into()))).unwrap(),
            r#"{"no_answer":{"failed":"boom"}}"#
        );
    }
}
