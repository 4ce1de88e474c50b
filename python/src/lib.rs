//! Herald for Python: the extension module `herald._herald` of the `herald-lan` package (import name
//! `herald`, whose `__init__.py` re-exports it). A Python program becomes a first-class Herald node:
//! discovery, services, publish/subscribe, direct messages and questions, with the Rust node inside.
//!
//! # Layout
//! - [`node`]: `herald.Node`, the class a program holds (a context manager), and its methods.
//! - [`subscription`]: `Subscription` (an iterator), `Message` and `Missed`.
//! - [`events`]: `Events` (an iterator of `Event`) and `on_peers`' watcher thread.
//! - [`answering`]: `answer_with`'s worker thread, where the Python callback runs.
//! - [`threads`]: the threads that call Python back, started named and joined with a bound.
//! - [`runtime`]: each node's own tokio runtime, and waiting on it with the GIL released and Ctrl-C checked.
//! - [`values`]: Python values to Herald's and back (data, targets, answers, outcomes, `Peer`).
//! - [`errors`]: the exceptions (`HeraldError` and below).

mod answering;
mod errors;
mod events;
mod node;
mod runtime;
mod subscription;
mod threads;
mod values;

use pyo3::prelude::*;

/// Herald's software version, as `herald --version` prints it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `herald._herald` module.
#[pymodule]
fn _herald(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", VERSION)?;
    let group = std::net::SocketAddrV4::new(
        herald_core::discovery::DEFAULT_GROUP,
        herald_core::discovery::DEFAULT_PORT,
    );
    m.add("DEFAULT_GROUP", group.to_string())?;
    m.add_class::<node::PyNode>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_class::<subscription::Message>()?;
    m.add_class::<subscription::Missed>()?;
    m.add_class::<values::Peer>()?;
    m.add_class::<values::Outcome>()?;
    m.add_class::<events::Events>()?;
    m.add_class::<events::Event>()?;
    m.add("HeraldError", py.get_type::<errors::HeraldError>())?;
    m.add("StartError", py.get_type::<errors::StartError>())?;
    m.add("NameTakenError", py.get_type::<errors::NameTakenError>())?;
    m.add("InterfaceError", py.get_type::<errors::InterfaceError>())?;
    m.add("KeyFileError", py.get_type::<errors::KeyFileError>())?;
    m.add("ClosedError", py.get_type::<errors::ClosedError>())?;
    Ok(())
}
