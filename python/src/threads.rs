//! [`CallbackThread`]: a thread of a node's own that calls Python back (the answer callback, `on_peers`,
//! `subscribe(callback=)`), never the node's runtime. Each takes the GIL only to call back, so it notices the
//! node closing without it; closing waits for it, a bounded time.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How long closing waits for a thread still inside its callback before it leaves it to end alone.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A thread calling a Python callback.
pub struct CallbackThread {
    thread: JoinHandle<()>,
}

impl CallbackThread {
    /// Starts `body` in a thread called `name`.
    pub fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> PyResult<CallbackThread> {
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(body)
            .map_err(|err| {
                pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "cannot start the thread {name}: {err}"
                ))
            })?;
        Ok(CallbackThread { thread })
    }

    /// Waits (GIL released) for the thread to end, as it does soon after the node closes or its stream
    /// ends, or up to [`STOP_WAIT`] for a callback still running; a thread stopping itself (a callback
    /// closing the node) is left to end alone.
    pub fn join(self, py: Python<'_>) {
        if self.thread.thread().id() == std::thread::current().id() {
            return;
        }
        py.detach(|| {
            let deadline = Instant::now() + STOP_WAIT;
            while !self.thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if self.thread.is_finished() {
                let _ = self.thread.join();
            }
        });
    }
}
