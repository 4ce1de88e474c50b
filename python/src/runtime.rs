//! [`Core`]: one Python `Node`'s own world, its tokio runtime and the running node, and how Python threads
//! wait on them. Each `Node` has its own runtime, so closing it stops every thread it started.
//!
//! Every wait releases the GIL (other Python threads run meanwhile); a call done at its first poll does not
//! wait, and keeps it. Long waits (questions, subscriptions)
//! are cut into [`SLICE`]s with a check for pending signals between them, so Ctrl-C raises
//! `KeyboardInterrupt` within a slice and cancels what was being waited for.
//!
//! Locking: `live` is read-locked only while the GIL is released (or for a moment to clone the node or poll a
//! call once without blocking), and write-locked only by [`Core::close`] after the node has stopped, which
//! wakes every waiter; nothing holding it needs the GIL, so Python threads and the node's threads cannot
//! deadlock on it.

use std::future::Future;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use herald_node::{Node, NodeConfig};
use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors;

/// Longest a blocking call waits before it checks for Ctrl-C (a pending signal).
pub const SLICE: Duration = Duration::from_millis(50);

/// How long closing waits for the runtime's threads to finish their work before it leaves them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A node and the runtime it runs on.
pub struct Core {
    /// The node's name (kept for messages once the node is closed).
    pub name: String,
    live: RwLock<Option<Live>>,
}

/// What a node is while it runs.
pub struct Live {
    /// The node's own runtime.
    pub runtime: Runtime,
    /// The node.
    pub node: Arc<Node>,
}

/// How one slice of a wait ended.
enum Slice<T> {
    Done(T),
    Pending,
    Closed,
}

impl Core {
    /// Starts a runtime with `threads` worker threads and a node on it; the GIL is released meanwhile (the
    /// start listens for another node with the same name for a moment).
    pub fn start(py: Python<'_>, config: NodeConfig, threads: usize) -> PyResult<Core> {
        let name = config.name.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("herald-node")
            .enable_all()
            .build()
            .map_err(|err| {
                errors::StartError::new_err(format!("cannot start the node's runtime: {err}"))
            })?;
        let started = py.detach(|| runtime.block_on(Node::start(config)));
        match started {
            Ok(node) => Ok(Core {
                name,
                live: RwLock::new(Some(Live {
                    runtime,
                    node: Arc::new(node),
                })),
            }),
            Err(err) => {
                py.detach(|| runtime.shutdown_timeout(SHUTDOWN_WAIT));
                Err(errors::start_error(err))
            }
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Live>> {
        self.live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True once [`Core::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.read().is_none()
    }

    /// The running node, or `ClosedError`.
    pub fn node(&self) -> PyResult<Arc<Node>> {
        self.read()
            .as_ref()
            .map(|live| live.node.clone())
            .ok_or_else(|| errors::closed(&self.name))
    }

    /// Runs `make(node)` on the calling thread, GIL released, in slices of [`SLICE`] with a check for Ctrl-C
    /// between them: a `KeyboardInterrupt` drops (cancels) the work and propagates. The first poll keeps the GIL
    /// (see [`Core::poll_once`]). The future is polled here
    /// rather than spawned, which saves a hop between threads on every call (an `ask`'s round trip).
    pub fn wait<F, T>(&self, py: Python<'_>, make: impl FnOnce(Arc<Node>) -> F) -> PyResult<T>
    where
        F: Future<Output = T> + Send,
        T: Send,
    {
        let mut work = Box::pin(make(self.node()?));
        if let Some(value) = self.poll_once(work.as_mut()) {
            return Ok(value);
        }
        loop {
            let slice = py.detach(|| {
                let live = self.read();
                let Some(live) = live.as_ref() else {
                    return Slice::Closed;
                };
                live.runtime.block_on(async {
                    match tokio::time::timeout(SLICE, &mut work).await {
                        Ok(value) => Slice::Done(value),
                        Err(_) => Slice::Pending,
                    }
                })
            });
            match slice {
                Slice::Done(value) => return Ok(value),
                Slice::Pending => py.check_signals()?,
                Slice::Closed => return Err(errors::closed(&self.name)),
            }
        }
    }

    /// Polls `work` once, here and with the GIL held: most calls (a publish with room in the queues, a send)
    /// are done at their first poll, which never blocks, and so skip releasing and retaking the GIL and
    /// arming a timer. `None` when it is not done yet (the caller waits for it, GIL released) or the node is
    /// closed.
    fn poll_once<F: Future>(&self, work: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let live = self.read();
        let _inside = live.as_ref()?.runtime.enter();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match work.poll(&mut cx) {
            std::task::Poll::Ready(value) => Some(value),
            std::task::Poll::Pending => None,
        }
    }

    /// Runs `step` with the running node's runtime; `None` once closed. For waits that keep their own state
    /// between slices (a subscription's reader); call it with the GIL released.
    pub fn with_runtime<T>(&self, step: impl FnOnce(&Runtime) -> T) -> Option<T> {
        let live = self.read();
        live.as_ref().map(|live| step(&live.runtime))
    }

    /// Leaves gracefully (the leave beacon; links closed; subscriptions end), then stops the runtime and
    /// its threads. Closing again does nothing.
    pub fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Some(live) = self.read().as_ref() {
                live.runtime.block_on(live.node.close());
            }
            let live = self
                .live
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(Live { runtime, node }) = live {
                drop(node);
                runtime.shutdown_timeout(SHUTDOWN_WAIT);
            }
        });
    }
}
