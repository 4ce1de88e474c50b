//! How a bridge is started: [`BridgeConfig`] and the documented limits and defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::dashboard::{self, Asset};

/// Where the bridge listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Events waiting to be written to one client. When full, further events for that client are dropped and
/// counted; the client gets a `lagged` notice with the count before its next event.
pub const DEFAULT_CLIENT_QUEUE: usize = 1024;
/// A client that keeps dropping events for this long is disconnected (close code 1008, "too slow").
pub const DEFAULT_LAG_LIMIT: Duration = Duration::from_secs(10);
/// Interval of WebSocket pings; a client silent for two intervals (no pong, no message) is closed.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// Clients at once; more are refused with 503.
pub const DEFAULT_MAX_CLIENTS: usize = 4096;
/// Bytes a client's socket may buffer unsent before the connection is failed (an explicit write bound).
pub const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes read from a client's socket at a time. Small on purpose: the WebSocket library zeroes its whole read
/// buffer before each read, which at the library's default (128 KiB) costs more than the frames themselves
/// when many clients send small requests.
pub const READ_BUFFER: usize = 4 * 1024;
/// Events kept for the snapshot a new client gets (peer, message, IP and error events to everyone).
pub const RECENT_EVENTS: usize = 100;
/// Requests waiting for the node. Each client has at most one in flight, so this only smooths bursts.
pub const TO_NODE_CAPACITY: usize = 1024;
/// A command the node has not answered by then gets an `internal` error reply.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a bridge needs to start. [`BridgeConfig::new`] fills every default.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The HTTP and WebSocket address. Anything but loopback requires `token`.
    pub listen: SocketAddr,
    /// Access token, required as `?token=` on `/ws` and `/metrics` when set.
    pub token: Option<String>,
    /// Origins allowed beside the bridge's own (`http://host:port`, exactly as browsers send them).
    pub allowed_origins: Vec<String>,
    /// A built dashboard on disk (trunk's `dist/`) to serve instead of `assets` (`--dashboard-dir`, for
    /// dashboard development). `None`: `assets`.
    pub dashboard_dir: Option<PathBuf>,
    /// The dashboard's files served when `dashboard_dir` is `None`: [`dashboard::embedded`] unless set.
    /// Empty: `/` is a page saying how to get a binary with the dashboard inside.
    pub assets: &'static [Asset],
    /// See [`DEFAULT_CLIENT_QUEUE`].
    pub client_queue: usize,
    /// See [`DEFAULT_LAG_LIMIT`].
    pub lag_limit: Duration,
    /// See [`DEFAULT_PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`DEFAULT_MAX_CLIENTS`].
    pub max_clients: usize,
    /// Largest message accepted from a client (larger ones close the connection with code 1009).
    pub max_message: usize,
}

impl BridgeConfig {
    /// Defaults for a bridge on `listen`, serving the dashboard embedded in this binary, if it has one.
    pub fn new(listen: SocketAddr) -> BridgeConfig {
        BridgeConfig {
            listen,
            token: None,
            allowed_origins: Vec::new(),
            dashboard_dir: None,
            assets: dashboard::embedded(),
            client_queue: DEFAULT_CLIENT_QUEUE,
            lag_limit: DEFAULT_LAG_LIMIT,
            ping_interval: DEFAULT_PING_INTERVAL,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_message: herald_core::bridge::MAX_WS_MESSAGE,
        }
    }
}
