//! Answering questions with a Python callback (`Node.answer_with`): the callback runs in one worker thread of
//! its own, never on the node's runtime. The node's answer handler hands each question to that thread through
//! a bounded queue and awaits its reply, under the asker's timeout. An exception in the callback becomes a
//! `failed` answer (its type and message are the reason) and the node's `AnswerFailed` event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use herald_core::Payload;
use herald_node::{HandlerError, IncomingQuestion};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use tokio::sync::{mpsc, oneshot};

use crate::threads::CallbackThread;
use crate::values::type_name;

/// Questions waiting for the callback; when full, a question waits for room (within its asker's timeout).
pub const QUEUE: usize = 64;

/// One question for the callback, and where its answer goes.
struct Job {
    question: Payload,
    sender: String,
    reply: oneshot::Sender<Result<Payload, String>>,
}

/// The thread running a callback, and the way in to its queue.
pub struct Worker {
    /// The queue's sender; taken (`None`) when the worker stops taking questions.
    queue: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
    /// Set by [`Worker::stop`] (which waits without the GIL) unless the interpreter is exiting: the thread
    /// may take the GIL once more to drop its thread state.
    stopped: Arc<AtomicBool>,
    thread: Option<CallbackThread>,
}

/// The answer thread's Python thread state, made once and kept for the thread's life: each question then
/// only takes the GIL (`PyGILState_Ensure` finds the state) instead of making a thread state and dropping it
/// again, which took a few microseconds of every answer.
struct KeptThreadState {
    gil: pyo3::ffi::PyGILState_STATE,
    saved: *mut pyo3::ffi::PyThreadState,
}

impl KeptThreadState {
    /// Makes this thread's state (taking the GIL for a moment) and lets the GIL go, keeping the state.
    fn keep() -> KeptThreadState {
        // SAFETY: the interpreter runs (a Node is being made); Ensure gives this thread a state and the GIL,
        // SaveThread lets the GIL go and returns that state, which this thread alone restores later.
        unsafe {
            let gil = pyo3::ffi::PyGILState_Ensure();
            let saved = pyo3::ffi::PyEval_SaveThread();
            KeptThreadState { gil, saved }
        }
    }

    /// Takes the GIL back and drops the state. Only while the interpreter runs (not while it exits, when
    /// taking the GIL may end the thread): otherwise the state is left for the interpreter to clear.
    fn release(self) {
        // SAFETY: the state was made on this thread by `keep`, and the GIL is not held here.
        unsafe {
            pyo3::ffi::PyEval_RestoreThread(self.saved);
            pyo3::ffi::PyGILState_Release(self.gil);
        }
    }
}

/// Starts a worker thread for `callback` and returns it with the answer handler to give the node.
pub fn start(
    callback: Py<PyAny>,
    node_name: &str,
) -> PyResult<(
    Worker,
    impl Fn(IncomingQuestion) -> AnswerFuture + Send + Sync + 'static,
)> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    let stopped = Arc::new(AtomicBool::new(false));
    let stopped_by_python = stopped.clone();
    let thread = CallbackThread::spawn(format!("herald-answers-{node_name}"), move || {
        let state = KeptThreadState::keep();
        // The GIL only to call the callback, so that noticing the node closing never needs it (not even
        // while the interpreter exits).
        while let Some(job) = rx.blocking_recv() {
            let answer = Python::attach(|py| call(py, &callback, &job));
            let _ = job.reply.send(answer);
        }
        // Without the GIL: PyO3 releases the reference when it next can.
        drop(callback);
        if stopped_by_python.load(Ordering::Acquire) {
            state.release();
        }
    })?;
    let queue = Arc::new(Mutex::new(Some(tx)));
    let handler_queue = queue.clone();
    let handler = move |question: IncomingQuestion| -> AnswerFuture {
        let tx = handler_queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Box::pin(async move {
            let tx = tx.ok_or("the node is closing")?;
            let (reply, answer) = oneshot::channel();
            let job = Job {
                question: question.payload,
                sender: question.from_name,
                reply,
            };
            tx.send(job)
                .await
                .map_err(|_| "the answer thread has stopped")?;
            let answer = answer.await.map_err(|_| "the answer thread has stopped")?;
            answer.map_err(HandlerError::from)
        })
    };
    Ok((
        Worker {
            queue,
            stopped,
            thread: Some(thread),
        },
        handler,
    ))
}

/// The future the answer handler returns.
pub type AnswerFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Payload, HandlerError>> + Send + 'static>,
>;

/// Calls the callback with one question; its answer, or why there is none.
fn call(py: Python<'_>, callback: &Py<PyAny>, job: &Job) -> Result<Payload, String> {
    let question = PyBytes::new(py, job.question.as_bytes());
    let answer = callback
        .bind(py)
        .call1((question, job.sender.as_str()))
        .map_err(|err| {
            let kind = err
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".to_owned());
            format!("{kind}: {}", err.value(py))
        })?;
    if let Ok(text) = answer.cast::<PyString>() {
        return text
            .to_cow()
            .map(|text| Payload::from(text.into_owned()))
            .map_err(|err| err.to_string());
    }
    if let Ok(bytes) = answer.cast::<PyBytes>() {
        return Ok(Payload::from(bytes.as_bytes()));
    }
    if let Ok(array) = answer.cast::<PyByteArray>() {
        return Ok(Payload::from(array.to_vec()));
    }
    Err(format!(
        "the answer callback returned {}, not str or bytes",
        type_name(&answer)
    ))
}

impl Worker {
    /// Stops taking questions and waits (GIL released) for the thread to end: at once when no question is
    /// in flight (once the node is closed, none is), else a bounded time for the callback to return.
    pub fn stop(mut self, py: Python<'_>) {
        // While the interpreter exits (a Node dropped with the modules), taking the GIL back could end the
        // thread: the thread state is then left to the interpreter.
        let finalizing = py
            .import("sys")
            .and_then(|sys| sys.call_method0("is_finalizing"))
            .and_then(|answer| answer.extract::<bool>())
            .unwrap_or(true);
        self.stopped.store(!finalizing, Ordering::Release);
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = self.thread.take() {
            thread.join(py);
        }
    }
}
