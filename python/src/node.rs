//! `herald.Node`: a Herald node inside a Python program, a first-class peer on the LAN (discovery, services,
//! publish/subscribe, direct messages, questions). A context manager: leaving the `with` block (or `close()`)
//! leaves the LAN gracefully and stops the node's threads. Every blocking call releases the GIL.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::discovery::DEFAULT_GROUP;
use herald_node::answerer::BuiltinAnswers;
use herald_node::auth::Key;
use herald_node::{identity, NodeConfig};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::answering;
use crate::errors;
use crate::events::{self, Events};
use crate::runtime::Core;
use crate::subscription::Subscription;
use crate::threads::CallbackThread;
use crate::values::{self, Peer};

/// A Herald node: joins the LAN (or the interface given) under `name` and stays until `close()`.
///
/// ```python
/// with herald.Node("kitchen", interface="127.0.0.1", services={"web": 8080}) as node:
///     node.publish("sensors.kitchen", "21.5 C")
///     for message in node.subscribe("sensors.*"):
///         print(message.sender, message.topic, message.payload)
/// ```
///
/// Arguments: `name` (unique on the LAN; default: the host name); `interface`, an IPv4 address such as
/// `"127.0.0.1"` or an interface name such as `"eth0"` (default: the LAN interface the routing table picks);
/// `group`, the multicast group as `"ADDR:PORT"` or just a port of the default group 239.255.72.68 (default
/// 239.255.72.68:7268); `port`, the TCP port for links from other nodes (default 0: any free port);
/// `services`, `{name: port}` to advertise; `key_file`, the LAN's shared key (as `herald keygen` writes
/// it; without one nothing is authenticated); `state_dir`, where the node id for this name is kept (default:
/// `$XDG_STATE_HOME/herald`, else `~/.local/state/herald`); `heartbeat`, seconds between beacons (default 1);
/// `threads`, the node's worker threads (default 1); `overflow`, what a full link queue to a slow subscriber
/// does: `"drop-oldest"` (default; the subscriber gets a `Missed` item), `"disconnect"`, or `"block"`
/// (lossless: `publish` waits); `subscriber_limit`, as a publisher, at most this many subscribers per
/// pattern (first come, first served; the others are refused and told).
///
/// Raises `NameTakenError` when another live node has the name, `InterfaceError` for an unknown
/// interface, `KeyFileError` for a key file that cannot be used, `StartError` when the sockets cannot be
/// opened.
#[pyclass(module = "herald", name = "Node", frozen)]
pub struct PyNode {
    core: Arc<Core>,
    answering: Mutex<Option<answering::Worker>>,
    watchers: Mutex<Vec<CallbackThread>>,
}

/// The node's configuration from the constructor's arguments.
#[allow(clippy::too_many_arguments)]
fn config(
    name: Option<String>,
    interface: Option<String>,
    group: Option<&Bound<'_, PyAny>>,
    port: u16,
    services: Option<BTreeMap<String, u16>>,
    key_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    heartbeat: Option<f64>,
    overflow: Option<String>,
    subscriber_limit: Option<u32>,
) -> PyResult<NodeConfig> {
    let name = name.unwrap_or_else(identity::hostname);
    if name.is_empty() {
        return Err(PyValueError::new_err("a node's name cannot be empty"));
    }
    let mut config = NodeConfig::new(name);
    if let Some(interface) = interface {
        config.interface = interface.parse().expect("parsing an interface never fails");
    }
    if let Some(group) = group {
        config.group = if let Ok(port) = group.extract::<u16>() {
            SocketAddrV4::new(DEFAULT_GROUP, port)
        } else {
            let text: String = group.extract().map_err(|_| {
                PyTypeError::new_err("group must be \"ADDR:PORT\" or a port number")
            })?;
            text.parse().map_err(|_| {
                PyValueError::new_err(format!(
                    "group {text:?} is not ADDR:PORT (such as \"239.255.72.68:7268\")"
                ))
            })?
        };
    }
    config.tcp_port = port;
    config.services = services.unwrap_or_default();
    if let Some(path) = key_file {
        config.key = Some(Key::from_file(&path).map_err(errors::key_error)?);
    }
    if let Some(dir) = state_dir {
        config.node_id = Some(identity::node_id_in(&dir, &config.name));
    }
    if let Some(secs) = heartbeat {
        config.heartbeat = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                PyValueError::new_err("heartbeat must be a positive number of seconds")
            })?;
    }
    config.subscriber_limit = subscriber_limit;
    if let Some(policy) = overflow {
        config.overflow = policy.parse().map_err(|_| {
            PyValueError::new_err(format!(
                "overflow {policy:?} is not one of \"drop-oldest\", \"disconnect\", \"block\""
            ))
        })?;
    }
    Ok(config)
}

/// How often `lookup(wait=...)` looks at the peer table again.
const LOOKUP_POLL: Duration = Duration::from_millis(20);

/// A timeout in seconds from Python.
fn seconds(secs: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a number of seconds >= 0")))
}

impl PyNode {
    fn stop_answering(&self, py: Python<'_>) {
        let worker = self
            .answering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(worker) = worker {
            worker.stop(py);
        }
    }

    fn close_now(&self, py: Python<'_>) {
        // Stop taking questions first, then close the node (its answer tasks end), then the worker ends.
        let worker = self
            .answering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        self.core.close(py);
        if let Some(worker) = worker {
            worker.stop(py);
        }
        let watchers = std::mem::take(
            &mut *self
                .watchers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for watcher in watchers {
            watcher.join(py);
        }
    }
}

#[pymethods]
impl PyNode {
    #[new]
    #[pyo3(signature = (name=None, *, interface=None, group=None, port=0, services=None, key_file=None, state_dir=None, heartbeat=None, threads=1, overflow=None, subscriber_limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Option<String>,
        interface: Option<String>,
        group: Option<&Bound<'_, PyAny>>,
        port: u16,
        services: Option<BTreeMap<String, u16>>,
        key_file: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        heartbeat: Option<f64>,
        threads: usize,
        overflow: Option<String>,
        subscriber_limit: Option<u32>,
    ) -> PyResult<PyNode> {
        let config = config(
            name,
            interface,
            group,
            port,
            services,
            key_file,
            state_dir,
            heartbeat,
            overflow,
            subscriber_limit,
        )?;
        Ok(PyNode {
            core: Arc::new(Core::start(py, config, threads)?),
            answering: Mutex::new(None),
            watchers: Mutex::new(Vec::new()),
        })
    }

    /// This node's name.
    #[getter]
    fn name(&self) -> &str {
        &self.core.name
    }

    /// This node's id (32 hex digits), kept per name in the state directory.
    #[getter]
    fn id(&self) -> PyResult<String> {
        Ok(self.core.node()?.id().to_string())
    }

    /// True once the node is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Every live peer (a list of `Peer`), by name.
    fn peers(&self) -> PyResult<Vec<Peer>> {
        Ok(self
            .core
            .node()?
            .peers()
            .into_iter()
            .map(Peer::from)
            .collect())
    }

    /// Every live provider of `service` (this node included), as `(ip, port)` pairs sorted by provider name.
    /// With `wait`, waits up to that many seconds for a first provider (a node that just started learns its
    /// peers' services within a moment).
    #[pyo3(signature = (service, *, wait=0.0))]
    fn lookup(&self, py: Python<'_>, service: &str, wait: f64) -> PyResult<Vec<(String, u16)>> {
        let deadline = Instant::now() + seconds(wait, "wait")?;
        loop {
            let found = self.core.node()?.lookup(service);
            if !found.is_empty() || Instant::now() >= deadline {
                return Ok(found.into_iter().map(values::address).collect());
            }
            py.detach(|| std::thread::sleep(LOOKUP_POLL));
            py.check_signals()?;
        }
    }

    /// Advertises the service `service` at `port` of this host (or moves it); peers see it at once.
    fn advertise(&self, service: &str, port: u16) -> PyResult<()> {
        self.core.node()?.advertise(service, port);
        Ok(())
    }

    /// Stops advertising `service`.
    fn withdraw(&self, service: &str) -> PyResult<()> {
        self.core.node()?.withdraw(service);
        Ok(())
    }

    /// Publishes `data` (bytes, or str sent as UTF-8) on `topic` to every subscriber on the LAN, this node
    /// included; returns how many subscribers it was queued for. Never waits for a connection.
    fn publish(&self, py: Python<'_>, topic: &str, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let data = values::data(data, "data")?;
        let data = data.as_ref();
        self.core
            .wait(py, |node| async move { node.publish(topic, data).await })?
            .map_err(|err| errors::publish_error(topic, err))
    }

    /// Subscribes to a topic pattern (`"chat"`, `"sensors.*"`) and returns a `Subscription`: an iterator of
    /// `Message` (and `Missed`) items. Publishers learn of it at once. With `callback`, returns `None` and
    /// calls `callback(item)` for each item instead, in a thread of its own until the node is closed (an
    /// exception in it is printed and the messages go on).
    #[pyo3(signature = (pattern, *, callback=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        pattern: &str,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Option<Subscription>> {
        if callback
            .as_ref()
            .is_some_and(|callback| !callback.bind(py).is_callable())
        {
            return Err(PyTypeError::new_err(
                "callback must be callable: callback(item: Message | Missed)",
            ));
        }
        let stream = self
            .core
            .node()?
            .subscription(pattern)
            .map_err(|err| errors::topic_error(&format!("pattern {pattern:?}"), err))?;
        let Some(callback) = callback else {
            return Ok(Some(Subscription::new(
                self.core.clone(),
                pattern.to_owned(),
                stream,
            )));
        };
        let watcher = crate::subscription::watch(self.core.clone(), pattern, stream, callback)?;
        self.watchers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(watcher);
        Ok(None)
    }

    /// Sends `data` (bytes or str) as a direct message to `to`: a name, a list of names, or `"all"` (every
    /// live peer). Returns each name's outcome: `"queued"`, `"unknown_peer"` or `"not_queued: REASON"`.
    fn send<'py>(
        &self,
        py: Python<'py>,
        to: &Bound<'py, PyAny>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let targets = values::targets(to)?;
        let payload = values::data(data, "data")?.into_payload();
        let outcomes = self
            .core
            .wait(py, |node| async move { node.send(targets, payload).await })?;
        values::send_outcomes(py, outcomes)
    }

    /// Asks `to` (a name, a list of names, or `"all"`) `question` (bytes or str) and waits up to `timeout`
    /// seconds. Returns `{name: answer}`, each answer a `str` when it is UTF-8 text, else `bytes`, or `None`
    /// when that peer gave none (timeout, unknown or gone peer, failed answerer). With `outcomes=True` each
    /// value is an `Outcome` saying why. Ctrl-C interrupts the wait.
    #[pyo3(signature = (to, question, timeout=2.0, *, outcomes=false))]
    fn ask<'py>(
        &self,
        py: Python<'py>,
        to: &Bound<'py, PyAny>,
        question: &Bound<'py, PyAny>,
        timeout: f64,
        outcomes: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let targets = values::targets(to)?;
        let question = values::data(question, "question")?.into_payload();
        let timeout = seconds(timeout, "timeout")?;
        let answers = self
            .core
            .wait(py, move |node| async move {
                node.ask(targets, question, timeout).await
            })?
            .map_err(errors::ask_error)?;
        values::ask_outcomes(py, answers, outcomes)
    }

    /// Answers peers' questions with `callback(question: bytes, sender: str) -> str | bytes` from now on. It
    /// runs in a worker thread of its own, one question at a time, within each asker's timeout; an exception
    /// becomes a failed answer (the asker's outcome says `failed` with its type and message). `None` puts
    /// back the built-in answers (`ping`, `info`).
    #[pyo3(signature = (callback))]
    fn answer_with(&self, py: Python<'_>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let node = self.core.node()?;
        match callback {
            Some(callback) => {
                if !callback.bind(py).is_callable() {
                    return Err(PyTypeError::new_err(
                        "answer_with takes a callable: callback(question: bytes, sender: str) -> str | bytes",
                    ));
                }
                let (worker, handler) = answering::start(callback, &self.core.name)?;
                node.answer_with(handler);
                let previous = self
                    .answering
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .replace(worker);
                if let Some(previous) = previous {
                    previous.stop(py);
                }
            }
            None => {
                let services: BTreeMap<String, u16> = node
                    .info()
                    .services
                    .into_iter()
                    .map(|(name, addr)| (name, addr.port()))
                    .collect();
                node.answer_with(BuiltinAnswers::new(&self.core.name, &services));
                self.stop_answering(py);
            }
        }
        Ok(())
    }

    /// What happens on the node from now on (the first call: since it started), as an iterator of `Event`
    /// items: peers `joined`, `changed`, `left` or `lost`; a direct `message` (`Node.send` from a peer);
    /// `answer_failed`, `refused`, `missed`, `name_conflict`; `lagged` when this reader fell behind.
    fn events(&self) -> PyResult<Events> {
        Ok(Events::new(self.core.clone(), self.core.node()?.events()))
    }

    /// Calls `callback(change, peer)` for each peer change from now on: `change` is `"joined"`, `"changed"`,
    /// `"left"` or `"lost"`, `peer` a `Peer`. It runs in a thread of its own until the node is closed; an
    /// exception in it is printed and the watching goes on. Call it before peers are expected: changes
    /// before the call are not replayed (`peers()` has the current list).
    fn on_peers(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        if !callback.bind(py).is_callable() {
            return Err(PyTypeError::new_err(
                "on_peers takes a callable: callback(change: str, peer: Peer)",
            ));
        }
        let stream = self.core.node()?.events();
        let watcher = events::watch_peers(self.core.clone(), stream, callback)?;
        self.watchers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(watcher);
        Ok(())
    }

    /// Every counter of the node (drops, refusals, links, questions) by name.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.core.node()?.stats().counters {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// The names of the peers a message on `topic` would go to.
    fn subscribers<'py>(&self, py: Python<'py>, topic: &str) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.core.node()?.subscribers(topic))
    }

    /// Leaves the LAN gracefully (peers see it leave at once), ends its subscriptions and stops every thread
    /// of the node. Closing again does nothing.
    fn close(&self, py: Python<'_>) {
        self.close_now(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close_now(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.core.is_closed() {
            "closed"
        } else {
            "running"
        };
        format!("Node(name={:?}, {state})", self.core.name)
    }
}

impl Drop for PyNode {
    fn drop(&mut self) {
        // A node dropped without close() still leaves gracefully.
        if !self.core.is_closed() {
            Python::attach(|py| self.close_now(py));
        }
    }
}
