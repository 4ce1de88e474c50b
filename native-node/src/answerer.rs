//! What answers questions: the [`Answerer`] trait a user implements (any async closure will do), the
//! question it is handed ([`IncomingQuestion`]), and [`BuiltinAnswers`], what a node answers without one
//! (`ping`, `info`). Running a handler for a question is [`answering`](crate::answering)'s job.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use herald_core::{NodeId, Payload};

/// What an answer handler returns on failure: any error (its text becomes the `Failed` reason).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// The future an [`Answerer`] returns.
pub type AnswerFuture = Pin<Box<dyn Future<Output = Result<Payload, HandlerError>> + Send>>;

/// A question from a peer, as handed to the answer handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingQuestion {
    /// The asker's id.
    pub from: NodeId,
    /// The asker's name.
    pub from_name: String,
    /// The question.
    pub payload: Payload,
    /// How long the asker waits; a handler still running then is stopped.
    pub timeout: Duration,
}

/// Answers questions. Implemented for every `Fn(IncomingQuestion) -> impl Future<Output = Result<Payload,
/// HandlerError>>`, so a closure is enough:
///
/// ```no_run
/// # async fn demo(node: herald_node::Node) {
/// use herald_node::Payload;
/// node.answer_with(|question: herald_node::IncomingQuestion| async move {
///     let text = question.payload.as_text().unwrap_or_default().to_uppercase();
///     Ok(Payload::from(text))
/// });
/// # }
/// ```
pub trait Answerer: Send + Sync + 'static {
    /// The answer to `question`. The future is first polled on the link's reader (an answer ready at once
    /// costs no task), so it must not block: do slow or blocking work after an `.await` (e.g. in
    /// `tokio::task::spawn_blocking`), where it runs in its own task under the asker's timeout.
    fn answer(&self, question: IncomingQuestion) -> AnswerFuture;
}

impl<F, Fut> Answerer for F
where
    F: Fn(IncomingQuestion) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Payload, HandlerError>> + Send + 'static,
{
    fn answer(&self, question: IncomingQuestion) -> AnswerFuture {
        Box::pin(self(question))
    }
}

/// The answers of a node with no handler: `ping` → `pong`; `info` → its name, Herald version and services
/// (nothing else); anything else fails with a reason saying so.
pub struct BuiltinAnswers {
    info: String,
}

impl BuiltinAnswers {
    /// Built-in answers for a node called `name` advertising `services` (name → port).
    pub fn new(name: &str, services: &std::collections::BTreeMap<String, u16>) -> Self {
        let info = serde_json::json!({
            "name": name,
            "version": env!("CARGO_PKG_VERSION"),
            "services": services,
        });
        BuiltinAnswers {
            info: info.to_string(),
        }
    }
}

impl Answerer for BuiltinAnswers {
    fn answer(&self, question: IncomingQuestion) -> AnswerFuture {
        let text = question.payload.as_text().map(str::trim);
        let result = match text {
            Some("ping") => Ok(Payload::from("pong")),
            Some("info") => Ok(Payload::from(self.info.clone())),
            _ => Err("no answer handler on this node (built-in answers: ping, info)".into()),
        };
        Box::pin(std::future::ready(result))
    }
}
