//! Herald's Python exceptions and how the node library's errors become them. Every message says what went
//! wrong and, where there is one, what to do (the library's own messages already do).
//!
//! `HeraldError` is the base; `StartError` (a node could not start) has `NameTakenError` and
//! `InterfaceError` below it; `KeyFileError` and `ClosedError` stand beside it. Bad arguments are Python's
//! own `ValueError` and `TypeError`.

use herald_node::auth::KeyError;
use herald_node::discovery::sockets::InterfaceError as LibInterfaceError;
use herald_node::messaging::PublishError;
use herald_node::questions::AskError;
use herald_node::topics::TopicError;
use herald_node::StartError as LibStartError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::PyErr;

create_exception!(
    herald,
    HeraldError,
    PyException,
    "The base of every Herald error."
);
create_exception!(
    herald,
    StartError,
    HeraldError,
    "A node could not start (its sockets, its interface, its name)."
);
create_exception!(
    herald,
    NameTakenError,
    StartError,
    "Another live node on the LAN already uses this name: choose another one."
);
create_exception!(
    herald,
    InterfaceError,
    StartError,
    "The interface given is unknown or has no IPv4 address."
);
create_exception!(
    herald,
    KeyFileError,
    HeraldError,
    "The key file cannot be used: unreadable, not hex or base64, too short, or readable by others."
);
create_exception!(
    herald,
    ClosedError,
    HeraldError,
    "The node was closed: nothing more can be done with it."
);

/// A node that did not start.
pub fn start_error(err: LibStartError) -> PyErr {
    match err {
        LibStartError::NameTaken { .. } => NameTakenError::new_err(err.to_string()),
        LibStartError::Interface(LibInterfaceError::NotFound(_)) => {
            InterfaceError::new_err(err.to_string())
        }
        other => StartError::new_err(other.to_string()),
    }
}

/// A key file that cannot be used.
pub fn key_error(err: KeyError) -> PyErr {
    KeyFileError::new_err(err.to_string())
}

/// A topic or pattern that is not one.
pub fn topic_error(what: &str, err: TopicError) -> PyErr {
    PyValueError::new_err(format!("{what}: {err}"))
}

/// A message that could not be published.
pub fn publish_error(topic: &str, err: PublishError) -> PyErr {
    PyValueError::new_err(format!("cannot publish on {topic:?}: {err}"))
}

/// A question that could not be asked.
pub fn ask_error(err: AskError) -> PyErr {
    HeraldError::new_err(format!("cannot ask: {err}"))
}

/// The node was closed.
pub fn closed(name: &str) -> PyErr {
    ClosedError::new_err(format!("the node {name:?} is closed"))
}
