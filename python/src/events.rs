//! What happens on a node, for Python: `Node.events()`, an iterator of [`Event`] items (peers joining,
//! changing, leaving or lost; direct messages; failed answers; refusals; lag), and `Node.on_peers(callback)`,
//! a thread of its own calling `callback(change, peer)` for each peer change (never on the node's runtime).
//! The event stream is bounded: a reader that falls behind gets a `lagged` event with the count it missed.

use std::sync::{Arc, Mutex, MutexGuard};

use herald_node::discovery::peers::PeerChange;
use herald_node::NodeEvent;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::runtime::{Core, SLICE};
use crate::subscription::Message;
use crate::threads::CallbackThread;
use crate::values::Peer;

/// Something that happened on the node.
#[pyclass(module = "herald", frozen)]
pub struct Event {
    /// `"joined"`, `"changed"`, `"left"`, `"lost"` (a peer), `"message"` (a direct message, or a topic message
    /// no subscription took), `"missed"`, `"answer_failed"`, `"refused"`, `"name_conflict"` or `"lagged"`.
    #[pyo3(get)]
    kind: &'static str,
    /// The peer or sender concerned, by name (`None` for `lagged`).
    #[pyo3(get)]
    name: Option<String>,
    peer: Option<Py<Peer>>,
    message: Option<Py<Message>>,
    /// What went wrong (`answer_failed`, `refused`), the topic (`missed`), or the claimant's address
    /// (`name_conflict`).
    #[pyo3(get)]
    detail: Option<String>,
    /// Messages dropped (`missed`) or events missed (`lagged`).
    #[pyo3(get)]
    count: Option<u64>,
}

#[pymethods]
impl Event {
    /// The peer as now known (as last known for `left` and `lost`), for peer events; else `None`.
    #[getter]
    fn peer(&self, py: Python<'_>) -> Option<Py<Peer>> {
        self.peer.as_ref().map(|peer| peer.clone_ref(py))
    }

    /// The message, for `message` events; else `None`.
    #[getter]
    fn message(&self, py: Python<'_>) -> Option<Py<Message>> {
        self.message.as_ref().map(|message| message.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(kind={:?}, name={:?}, detail={:?}, count={:?})",
            self.kind, self.name, self.detail, self.count
        )
    }
}

/// The name of a peer change, as Python sees it.
pub fn change_name(change: &PeerChange) -> &'static str {
    match change {
        PeerChange::Joined => "joined",
        PeerChange::Changed { .. } => "changed",
        PeerChange::Left => "left",
        PeerChange::Lost => "lost",
    }
}

/// A node event as a Python `Event`.
pub fn to_python(py: Python<'_>, event: NodeEvent) -> PyResult<Event> {
    let blank = Event {
        kind: "lagged",
        name: None,
        peer: None,
        message: None,
        detail: None,
        count: None,
    };
    Ok(match event {
        NodeEvent::Peer(change) => Event {
            kind: change_name(&change.change),
            name: Some(change.peer.name.clone()),
            peer: Some(Py::new(py, Peer::from(change.peer))?),
            ..blank
        },
        NodeEvent::Message(message) => {
            let payload = PyBytes::new(py, message.payload.as_bytes()).unbind();
            Event {
                kind: "message",
                name: Some(message.from_name.clone()),
                message: Some(Py::new(
                    py,
                    Message::new(message.topic, payload, message.from_name),
                )?),
                ..blank
            }
        }
        NodeEvent::Missed { from, topic, count } => Event {
            kind: "missed",
            name: Some(from),
            detail: Some(topic),
            count: Some(count),
            ..blank
        },
        NodeEvent::AnswerFailed { from, reason } => Event {
            kind: "answer_failed",
            name: Some(from),
            detail: Some(reason),
            ..blank
        },
        NodeEvent::Refused { from, reason } => Event {
            kind: "refused",
            name: Some(from),
            detail: Some(format!("{reason:?}")),
            ..blank
        },
        NodeEvent::NameConflict(conflict) => Event {
            kind: "name_conflict",
            name: Some(conflict.name),
            detail: Some(conflict.addr.to_string()),
            ..blank
        },
        NodeEvent::Lagged { missed } => Event {
            count: Some(missed),
            ..blank
        },
    })
}

/// The node's events, from `Node.events()`: an iterator of `Event` items from the call on (the first call
/// also gets what happened since the node started). Iteration ends when the node is closed.
#[pyclass(module = "herald", frozen)]
pub struct Events {
    core: Arc<Core>,
    stream: Mutex<herald_node::Events>,
}

impl Events {
    /// An iterator over `stream`.
    pub fn new(core: Arc<Core>, stream: herald_node::Events) -> Events {
        Events {
            core,
            stream: Mutex::new(stream),
        }
    }
}

/// The next event of `stream`, waiting (GIL released, Ctrl-C checked every slice); `Ok(None)` once the
/// node is closed.
fn next_event(
    py: Python<'_>,
    core: &Core,
    stream: &Mutex<herald_node::Events>,
) -> PyResult<Option<NodeEvent>> {
    loop {
        let step = py.detach(|| {
            let mut stream = lock(stream);
            core.with_runtime(|runtime| {
                runtime.block_on(async { tokio::time::timeout(SLICE, stream.next()).await })
            })
        });
        match step {
            None | Some(Ok(None)) => return Ok(None),
            Some(Ok(Some(event))) => return Ok(Some(event)),
            Some(Err(_elapsed)) => py.check_signals()?,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[pymethods]
impl Events {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Event>> {
        next_event(py, &self.core, &self.stream)?
            .map(|event| to_python(py, event))
            .transpose()
    }
}

/// Starts a thread that calls `callback(change, peer)` for each peer change of `stream` until the node is
/// closed. It holds the GIL only to call the callback (so it never needs it to notice the node closing,
/// even while the interpreter exits). An exception in the callback is reported as unraisable (printed), and
/// the watching goes on.
pub fn watch_peers(
    core: Arc<Core>,
    mut stream: herald_node::Events,
    callback: Py<PyAny>,
) -> PyResult<CallbackThread> {
    CallbackThread::spawn(format!("herald-peers-{}", core.name), move || {
        loop {
            let step = core.with_runtime(|runtime| {
                runtime.block_on(async { tokio::time::timeout(SLICE, stream.next()).await })
            });
            let change = match step {
                None | Some(Ok(None)) => break,
                Some(Err(_elapsed)) => continue,
                Some(Ok(Some(NodeEvent::Peer(change)))) => change,
                Some(Ok(Some(_))) => continue,
            };
            Python::attach(|py| {
                let kind = change_name(&change.change);
                let called = Py::new(py, Peer::from(change.peer))
                    .and_then(|peer| callback.bind(py).call1((kind, peer)));
                if let Err(err) = called {
                    err.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        }
        // Without the GIL: PyO3 releases the reference when it next can.
        drop(callback);
    })
}
