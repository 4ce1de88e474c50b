//! [`Subscription`]: the messages on a topic pattern as a Python iterator, with the gaps a publisher had to
//! leave shown in place as [`Missed`] items, never silent. Messages are taken from the node in batches (one
//! wake-up and one release of the GIL per batch), then handed out one by one with the GIL held.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use herald_node::Delivery;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::runtime::{Core, SLICE};
use crate::threads::CallbackThread;

/// Deliveries taken from the node at once, at most.
const BATCH: usize = 1024;

/// A message on a subscribed topic.
#[pyclass(module = "herald", frozen)]
pub struct Message {
    /// The topic it was published on; `None` for a direct message (`Node.send`).
    #[pyo3(get)]
    topic: Option<String>,
    payload: Py<PyBytes>,
    /// The publisher's name.
    #[pyo3(get)]
    sender: String,
}

impl Message {
    /// A message from `sender` on `topic` (`None`: a direct message).
    pub fn new(topic: Option<String>, payload: Py<PyBytes>, sender: String) -> Message {
        Message {
            topic,
            payload,
            sender,
        }
    }
}

#[pymethods]
impl Message {
    /// The message's bytes.
    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.payload.clone_ref(py)
    }

    /// The payload decoded as UTF-8 text, or `None` when it is not text.
    #[getter]
    fn text(&self, py: Python<'_>) -> Option<String> {
        std::str::from_utf8(self.payload.bind(py).as_bytes())
            .ok()
            .map(str::to_owned)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Message(topic={:?}, sender={:?}, payload={})",
            self.topic,
            self.sender,
            self.payload.bind(py).repr()?
        ))
    }
}

/// A gap: the publisher `sender` dropped `count` messages on `topic` for this node, because it read too
/// slowly (the publisher's overflow policy is drop-oldest). It stands exactly where the gap is.
#[pyclass(module = "herald", frozen, get_all)]
pub struct Missed {
    /// The publisher's name.
    sender: String,
    /// The topic.
    topic: String,
    /// Messages dropped.
    count: u64,
}

#[pymethods]
impl Missed {
    fn __repr__(&self) -> String {
        format!(
            "Missed(sender={:?}, topic={:?}, count={})",
            self.sender, self.topic, self.count
        )
    }
}

/// The messages on a topic pattern, in order per publisher, from `Node.subscribe`. Iterate over it
/// (`for message in subscription:`), or take one at a time with `recv(timeout)`. Each item is a `Message`,
/// or a `Missed` notice where a publisher had to drop messages for this slow reader. Iteration ends when the
/// node is closed.
#[pyclass(module = "herald", frozen)]
pub struct Subscription {
    core: Arc<Core>,
    /// The pattern subscribed to.
    #[pyo3(get)]
    pattern: String,
    reader: Mutex<Reader>,
}

/// The node's stream and the batch taken from it.
struct Reader {
    stream: herald_node::Subscription,
    batch: Vec<Delivery>,
    taken: std::vec::IntoIter<Delivery>,
}

/// What a wait for the next item came to.
enum Next {
    Item(Delivery),
    TimedOut,
    Ended,
}

impl Subscription {
    /// A subscription reading `stream`.
    pub fn new(
        core: Arc<Core>,
        pattern: String,
        stream: herald_node::Subscription,
    ) -> Subscription {
        Subscription {
            core,
            pattern,
            reader: Mutex::new(Reader {
                stream,
                batch: Vec::with_capacity(BATCH),
                taken: Vec::new().into_iter(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Reader> {
        self.reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next delivery: at once when one is taken already, else waiting (GIL released, Ctrl-C checked
    /// every slice) up to `timeout`, or for ever.
    fn next_delivery(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Next> {
        // Without waiting and with the GIL held, but never blocking on the lock while holding it: another
        // thread may hold the lock while it waits with the GIL released.
        if let Ok(mut reader) = self.reader.try_lock() {
            if let Some(delivery) = reader.taken.next() {
                return Ok(Next::Item(delivery));
            }
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = deadline.map_or(SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(SLICE)
            });
            let next = py.detach(|| {
                let mut reader = self.lock();
                if let Some(delivery) = reader.taken.next() {
                    return Some(Next::Item(delivery));
                }
                let Reader { stream, batch, .. } = &mut *reader;
                let took = self.core.with_runtime(|runtime| {
                    runtime.block_on(async {
                        tokio::time::timeout(slice, stream.recv_many(batch, BATCH)).await
                    })
                });
                match took {
                    None | Some(Ok(0)) => Some(Next::Ended),
                    Some(Ok(_)) => {
                        reader.taken = std::mem::take(&mut reader.batch).into_iter();
                        reader.taken.next().map(Next::Item)
                    }
                    Some(Err(_elapsed)) => None,
                }
            });
            match next {
                Some(next) => return Ok(next),
                None => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Next::TimedOut);
                    }
                }
            }
        }
    }
}

/// Starts a thread that calls `callback(item)` for each item of `stream` until the node is closed, taking
/// items in batches and holding the GIL only to call back (once per batch). An exception in the callback is
/// reported as unraisable (printed), and the messages go on.
pub fn watch(
    core: Arc<Core>,
    pattern: &str,
    mut stream: herald_node::Subscription,
    callback: Py<PyAny>,
) -> PyResult<CallbackThread> {
    CallbackThread::spawn(format!("herald-sub-{pattern}"), move || {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let took = core.with_runtime(|runtime| {
                runtime.block_on(async {
                    tokio::time::timeout(SLICE, stream.recv_many(&mut batch, BATCH)).await
                })
            });
            match took {
                None | Some(Ok(0)) => break,
                Some(Err(_elapsed)) => continue,
                Some(Ok(_)) => {}
            }
            Python::attach(|py| {
                for delivery in batch.drain(..) {
                    let called =
                        to_python(py, delivery).and_then(|item| callback.bind(py).call1((item,)));
                    if let Err(err) = called {
                        err.write_unraisable(py, Some(callback.bind(py)));
                    }
                }
            });
        }
        // Without the GIL: PyO3 releases the reference when it next can.
        drop(callback);
    })
}

/// A delivery as a Python `Message` or `Missed`.
fn to_python(py: Python<'_>, delivery: Delivery) -> PyResult<Py<PyAny>> {
    Ok(match delivery {
        Delivery::Message(message) => Py::new(
            py,
            Message::new(
                message.topic.as_deref().map(str::to_owned),
                PyBytes::new(py, &message.payload).unbind(),
                message.from_name.to_string(),
            ),
        )?
        .into_any(),
        Delivery::Missed { from, topic, count } => Py::new(
            py,
            Missed {
                sender: from,
                topic,
                count,
            },
        )?
        .into_any(),
    })
}

#[pymethods]
impl Subscription {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.next_delivery(py, None)? {
            Next::Item(delivery) => to_python(py, delivery).map(Some),
            Next::TimedOut | Next::Ended => Ok(None),
        }
    }

    /// The next `Message` or `Missed` item, waiting up to `timeout` seconds (`None`: for ever); `None` when
    /// nothing came in time. Raises `ClosedError` once the node is closed.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let timeout = timeout
            .map(|secs| Duration::try_from_secs_f64(secs.max(0.0)))
            .transpose()
            .map_err(|err| pyo3::exceptions::PyValueError::new_err(format!("timeout: {err}")))?;
        match self.next_delivery(py, timeout)? {
            Next::Item(delivery) => to_python(py, delivery).map(Some),
            Next::TimedOut => Ok(None),
            Next::Ended => Err(errors::closed(&self.core.name)),
        }
    }

    fn __repr__(&self) -> String {
        format!("Subscription(pattern={:?})", self.pattern)
    }
}
