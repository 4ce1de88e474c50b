//! Python values to Herald's and back: message data (`bytes` or `str`), targets (a name, a list of names,
//! or `"all"`), answers (`str` when UTF-8, else `bytes`), send and ask outcomes, and peers ([`Peer`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use herald_core::bridge::{PeerInfo, Targets};
use herald_core::{AskOutcome, NoAnswer, Payload};
use herald_node::SendOutcome;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

/// Message data from Python: a `bytes` object's own buffer (no copy), or the bytes of a `str` (UTF-8) or a
/// `bytearray`.
pub enum Data<'a> {
    /// A `bytes` object's buffer, alive as long as the caller's reference (bytes are immutable).
    Borrowed(&'a [u8]),
    /// Copied.
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Data<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Data::Borrowed(bytes) => bytes,
            Data::Owned(bytes) => bytes,
        }
    }
}

impl Data<'_> {
    /// The bytes as a [`Payload`] (copied when borrowed).
    pub fn into_payload(self) -> Payload {
        match self {
            Data::Borrowed(bytes) => Payload(bytes.to_vec()),
            Data::Owned(bytes) => Payload(bytes),
        }
    }
}

/// `data` as bytes: `bytes`, `bytearray` or `str` (sent as UTF-8); anything else is a `TypeError` naming
/// `what`.
pub fn data<'a>(data: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Data<'a>> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Data::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(Data::Owned(text.to_cow()?.into_owned().into_bytes()));
    }
    if let Ok(array) = data.cast::<PyByteArray>() {
        return Ok(Data::Owned(array.to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or str, not {}",
        type_name(data)
    )))
}

/// Who to send to or ask: `"all"` (every live peer), one name, or an iterable of names.
pub fn targets(to: &Bound<'_, PyAny>) -> PyResult<Targets> {
    if let Ok(name) = to.cast::<PyString>() {
        let name = name.to_cow()?;
        return Ok(if name == "all" {
            Targets::All
        } else {
            Targets::Names(vec![name.into_owned()])
        });
    }
    let not_names = || {
        PyTypeError::new_err(format!(
            "the targets must be a name, a list of names or \"all\", not {}",
            type_name(to)
        ))
    };
    let mut names = Vec::new();
    for item in to.try_iter().map_err(|_| not_names())? {
        let item = item?;
        let name = item.cast::<PyString>().map_err(|_| not_names())?;
        names.push(name.to_cow()?.into_owned());
    }
    Ok(Targets::Names(names))
}

/// An answer or message body for Python: `str` when it is UTF-8 text, else `bytes`.
pub fn text_or_bytes(py: Python<'_>, bytes: &[u8]) -> Py<PyAny> {
    match std::str::from_utf8(bytes) {
        Ok(text) => PyString::new(py, text).into_any().unbind(),
        Err(_) => PyBytes::new(py, bytes).into_any().unbind(),
    }
}

/// What a direct message became, per name: `"queued"`, `"unknown_peer"` or `"not_queued: REASON"`.
pub fn send_outcomes<'py>(
    py: Python<'py>,
    outcomes: BTreeMap<String, SendOutcome>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, outcome) in outcomes {
        let text = match outcome {
            SendOutcome::Queued => "queued".to_owned(),
            SendOutcome::UnknownPeer => "unknown_peer".to_owned(),
            SendOutcome::NotQueued(reason) => format!("not_queued: {reason}"),
        };
        dict.set_item(name, text)?;
    }
    Ok(dict)
}

/// Each name's answer (`str` or `bytes`) or `None`, or with `full` each name's [`Outcome`].
pub fn ask_outcomes<'py>(
    py: Python<'py>,
    outcomes: BTreeMap<String, AskOutcome>,
    full: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, outcome) in outcomes {
        if full {
            dict.set_item(name, Outcome::from_outcome(py, outcome))?;
        } else {
            let answer = outcome
                .payload()
                .map(|payload| text_or_bytes(py, payload.as_bytes()));
            dict.set_item(name, answer)?;
        }
    }
    Ok(dict)
}

/// One peer's outcome of a question (`ask(..., outcomes=True)`).
#[pyclass(module = "herald", frozen)]
pub struct Outcome {
    answer: Option<Py<PyAny>>,
    /// Milliseconds from asking to the answer, or `None`.
    #[pyo3(get)]
    latency_ms: Option<u64>,
    /// Why there is no answer: `"timeout"`, `"unknown_peer"`, `"peer_left"` or `"failed"`; `None` when
    /// answered.
    #[pyo3(get)]
    reason: Option<&'static str>,
    /// What failed, for `"failed"` (the answerer's error); else `None`.
    #[pyo3(get)]
    detail: Option<String>,
}

impl Outcome {
    fn from_outcome(py: Python<'_>, outcome: AskOutcome) -> Outcome {
        match outcome {
            AskOutcome::Answered {
                payload,
                latency_ms,
            } => Outcome {
                answer: Some(text_or_bytes(py, payload.as_bytes())),
                latency_ms: Some(latency_ms),
                reason: None,
                detail: None,
            },
            AskOutcome::NoAnswer(why) => {
                let (reason, detail) = match why {
                    NoAnswer::Timeout => ("timeout", None),
                    NoAnswer::UnknownPeer => ("unknown_peer", None),
                    NoAnswer::PeerLeft => ("peer_left", None),
                    NoAnswer::Failed(detail) => ("failed", Some(detail)),
                };
                Outcome {
                    answer: None,
                    latency_ms: None,
                    reason: Some(reason),
                    detail,
                }
            }
        }
    }
}

#[pymethods]
impl Outcome {
    /// The answer (`str` when UTF-8, else `bytes`), or `None`.
    #[getter]
    fn answer(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.answer.as_ref().map(|answer| answer.clone_ref(py))
    }

    /// True when the peer answered in time.
    #[getter]
    fn answered(&self) -> bool {
        self.reason.is_none()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match (&self.answer, self.reason) {
            (Some(answer), _) => format!(
                "Outcome(answer={}, latency_ms={})",
                answer.bind(py).repr()?,
                self.latency_ms.unwrap_or(0)
            ),
            (None, reason) => format!(
                "Outcome(reason={:?}, detail={:?})",
                reason.unwrap_or("timeout"),
                self.detail
            ),
        })
    }
}

/// A live peer, as this node sees it.
#[pyclass(module = "herald", frozen, get_all)]
pub struct Peer {
    /// Its unique name on the LAN.
    name: String,
    /// What sort of program it is: `"herald"`, `"cli"`, or a legacy kind (`"hein-receiver"`, ...).
    kind: String,
    /// Its IP address.
    addr: String,
    /// Its services: name to `(ip, port)`.
    services: BTreeMap<String, (String, u16)>,
    /// The topic patterns it subscribes to.
    topics: Vec<String>,
    /// Its node id (32 hex digits).
    node_id: String,
    /// For a legacy program or a peer at another site, the id of the Herald node it is reached through; else
    /// `None`.
    via: Option<String>,
    /// For a peer at another site (joined through NATS), the site's name (address it as `name@site`); else
    /// `None`.
    site: Option<String>,
    /// For a service found by DNS-SD (kind `"mdns"`), its TXT records, key to value; else empty.
    txt: BTreeMap<String, String>,
}

impl From<PeerInfo> for Peer {
    fn from(peer: PeerInfo) -> Peer {
        Peer {
            name: peer.name,
            kind: peer.kind.as_str().to_owned(),
            addr: peer.addr.to_string(),
            services: peer
                .services
                .into_iter()
                .map(|(name, addr)| (name, address(addr)))
                .collect(),
            topics: peer.topics,
            node_id: peer.node_id.to_string(),
            via: peer.via.map(|id| id.to_string()),
            site: peer.site,
            txt: peer.txt,
        }
    }
}

#[pymethods]
impl Peer {
    fn __repr__(&self) -> String {
        format!(
            "Peer(name={:?}, kind={:?}, addr={:?}, services={:?})",
            self.name, self.kind, self.addr, self.services
        )
    }
}

/// An address as Python's sockets take it: `(ip, port)`.
pub fn address(addr: SocketAddr) -> (String, u16) {
    (addr.ip().to_string(), addr.port())
}

/// `type(obj).__name__`, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}
