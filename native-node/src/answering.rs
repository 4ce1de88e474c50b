//! Answering peers' questions: `answer` runs this node's [`Answerer`](crate::answerer::Answerer) for one
//! question that came over a link, with the asker's timeout and at most `max_concurrent_answers` at once,
//! and turns an error or a panic into a `Failed` answer plus an error event, so a broken handler never takes
//! the node down; `answer_here` does the same for a legacy peer's question through its gateway. Every task
//! it starts runs on the node's tracker, so shutdown waits for it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use herald_core::frame::{Answer, AnswerBody, Frame, Question};
use herald_core::{NodeId, Payload};

use crate::answerer::{AnswerFuture, HandlerError, IncomingQuestion};
use crate::events::NodeEvent;
use crate::link::LinkSender;
use crate::shared::Shared;
use crate::stats::bump;

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
    let Ok(permit) = shared.answer_slots.clone().try_acquire_owned() else {
        bump(&counters.questions_busy);
        tracing::warn!(from = %from_name, "too many questions being answered; answered busy");
        let body = AnswerBody::Failed(format!(
            "busy: {} questions already being answered",
            shared.config.max_concurrent_answers
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
    let mut running = shared.tasks.spawn(running);
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
    let running = shared.tasks.spawn(shared.answerer().answer(question));
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
