//! Answering questions from peers: the [`Answerer`] a user supplies (any async closure will do), the built-in
//! answers a node gives without one (`ping`, `info`), and `answer`, which runs the handler for one question
//! with the asker's timeout and turns an error or a panic into a `Failed` answer plus an error event, so a
//! broken handler never takes the node down.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use herald_core::frame::{Answer, AnswerBody, Frame, Question};
use herald_core::{NodeId, Payload};

use crate::link::LinkSender;
use crate::node::{NodeEvent, Shared};
use crate::stats::bump;

/// Questions answered at once per node; beyond it a question is answered `Failed("busy")` straight away.
pub const MAX_CONCURRENT_ANSWERS: usize = 64;

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

/// Answers one question on the link it came over, from the link's reader. A handler whose answer is ready at
/// once (the built-in answers, most closures) runs right here, its panic caught, and the answer is queued
/// without a task or a timer; one that has to wait continues in its own task with the asker's timeout.
pub(crate) fn answer(
    shared: &Arc<Shared>,
    reply: &LinkSender,
    question: Question,
    from: NodeId,
    from_name: String,
) {
    let counters = &shared.messaging.counters;
    bump(&counters.questions_received);
    let Ok(permit) = shared.messaging.answer_slots.clone().try_acquire_owned() else {
        bump(&counters.questions_busy);
        tracing::warn!(from = %from_name, "too many questions being answered; answered busy");
        let body = AnswerBody::Failed(format!(
            "busy: {MAX_CONCURRENT_ANSWERS} questions already being answered"
        ));
        let _ = reply.try_send(Frame::Answer(Answer {
            id: question.id,
            body,
        }));
        return;
    };
    let timeout = Duration::from_millis(u64::from(question.timeout_ms));
    let incoming = IncomingQuestion {
        from,
        from_name: from_name.clone(),
        payload: question.payload,
        timeout,
    };
    let mut running = shared.answerer().answer(incoming);
    let first_poll = std::panic::catch_unwind(AssertUnwindSafe(|| (&mut running).now_or_never()));
    let body = match first_poll {
        Ok(Some(result)) => answer_body(shared, &from_name, result),
        Err(_) => {
            let reason = "the answer handler panicked";
            handler_failed(shared, &from_name, reason.to_owned());
            AnswerBody::Failed(reason.to_owned())
        }
        Ok(None) => {
            let waiting = finish_answer(
                shared.clone(),
                reply.clone(),
                question.id,
                running,
                timeout,
                from_name,
            );
            shared.tasks.spawn(async move {
                waiting.await;
                drop(permit);
            });
            return;
        }
    };
    drop(permit);
    let frame = Frame::Answer(Answer {
        id: question.id,
        body,
    });
    match reply.offer(frame) {
        Ok(None) => bump(&counters.answers_sent),
        // The link's queue is full and its policy waits: wait in a task, not in the reader.
        Ok(Some(frame)) => {
            let (shared, reply) = (shared.clone(), reply.clone());
            shared.clone().tasks.spawn(async move {
                if reply.send(frame).await.is_ok() {
                    bump(&shared.messaging.counters.answers_sent);
                }
            });
        }
        Err(_) => {}
    }
}

/// A handler that had to wait: run it in its own task (its panic caught there) until the asker's timeout.
async fn finish_answer(
    shared: Arc<Shared>,
    reply: LinkSender,
    id: u64,
    running: AnswerFuture,
    timeout: Duration,
    from_name: String,
) {
    let counters = &shared.messaging.counters;
    let mut running = tokio::spawn(running);
    let body = tokio::select! {
        _ = shared.shutdown.cancelled() => {
            running.abort();
            return;
        }
        _ = tokio::time::sleep(timeout) => {
            running.abort();
            bump(&counters.answers_timed_out);
            handler_failed(&shared, &from_name, "the answer handler ran past the asker's timeout".into());
            // The asker has stopped waiting; nothing is sent.
            return;
        }
        joined = &mut running => match joined {
            Ok(result) => answer_body(&shared, &from_name, result),
            Err(join) => {
                let reason = if join.is_panic() { "the answer handler panicked" } else { "the answer handler was cancelled" };
                handler_failed(&shared, &from_name, reason.to_owned());
                AnswerBody::Failed(reason.to_owned())
            }
        }
    };
    let frame = Frame::Answer(Answer { id, body });
    if reply.send(frame).await.is_ok() {
        bump(&counters.answers_sent);
    }
}

/// Answers a question that did not come over a link (a legacy peer's, through its gateway) with this node's
/// handler, in its own task, under `question.timeout`; a failure, panic or timeout is reported as for any
/// question and gives `Failed`.
pub(crate) async fn answer_here(shared: &Arc<Shared>, question: IncomingQuestion) -> AnswerBody {
    let counters = &shared.messaging.counters;
    bump(&counters.questions_received);
    let (timeout, from_name) = (question.timeout, question.from_name.clone());
    let running = tokio::spawn(shared.answerer().answer(question));
    let abort = running.abort_handle();
    match tokio::time::timeout(timeout, running).await {
        Err(_) => {
            abort.abort();
            bump(&counters.answers_timed_out);
            let reason = "the answer handler ran past the asker's timeout";
            handler_failed(shared, &from_name, reason.into());
            AnswerBody::Failed(reason.into())
        }
        Ok(Ok(result)) => {
            let body = answer_body(shared, &from_name, result);
            if matches!(body, AnswerBody::Answered(_)) {
                bump(&counters.answers_sent);
            }
            body
        }
        Ok(Err(join)) => {
            let reason = if join.is_panic() {
                "the answer handler panicked"
            } else {
                "the answer handler was cancelled"
            };
            handler_failed(shared, &from_name, reason.to_owned());
            AnswerBody::Failed(reason.to_owned())
        }
    }
}

/// The answer frame's body for a handler's result (a failure is also reported).
fn answer_body(
    shared: &Shared,
    from_name: &str,
    result: Result<Payload, HandlerError>,
) -> AnswerBody {
    match result {
        Ok(payload) => AnswerBody::Answered(payload),
        Err(err) => {
            let reason = err.to_string();
            handler_failed(shared, from_name, reason.clone());
            AnswerBody::Failed(reason)
        }
    }
}

fn handler_failed(shared: &Shared, from_name: &str, reason: String) {
    bump(&shared.messaging.counters.answers_failed);
    tracing::warn!(from = %from_name, %reason, "answering a question failed");
    shared.emit(NodeEvent::AnswerFailed {
        from: from_name.to_owned(),
        reason,
    });
}
