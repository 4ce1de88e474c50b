//! Gateways to the older tools Herald replaces, so their programs keep running unchanged while a LAN moves to
//! Herald one host at a time. Each is off unless asked for, listens on the node's interface only, treats every
//! byte it reads as untrusted (counted in [`crate::stats::LegacyCounters`], logged, never fatal), and makes
//! what the old program says visible in Herald like any peer: the programs become proxied peers
//! ([`crate::proxies`]) of their own kind.
//!
//! - [`hub`]: the Twisted hub (UDP 224.0.0.1:8888): lookups answered from Herald's service registry,
//!   registrations kept (and persisted) as `twisted-hub` peers.
//! - [`hein_transmitter`]: a hein `SocTransmitter` on a TCP port: Herald messages on a topic go to every hein
//!   receiver, which appear as `hein-receiver` peers.
//! - [`hein_receiver`]: connects to an existing hein transmitter and publishes its frames on a topic.
//! - [`pyconnect`]: a pythonConnect device on the group 239.255.4.3:3235 and TCP 4112, gateway for the
//!   pythonConnect devices it meets (`pythonconnect` peers that any Herald node can message and ask).
//!
//! The wire formats themselves (sans-IO) are in [`herald_core::legacy`]; the DynIP side is in
//! [`crate::iplog`] (the old datagram, the old JSON log, `dynip import`).

pub mod hein_receiver;
pub mod hein_transmitter;
pub mod hub;
pub mod pyconnect;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::node::Node;

/// Which gateways a node runs (`herald node --hub --hein-serve ... --pyconnect`, or the `[legacy]` table).
#[derive(Debug, Clone, Default)]
pub struct LegacyConfig {
    /// The Twisted hub, if on.
    pub hub: Option<hub::HubConfig>,
    /// hein transmitter ports.
    pub hein_serve: Vec<hein_transmitter::HeinServeConfig>,
    /// hein transmitters to receive from.
    pub hein_connect: Vec<hein_receiver::HeinConnectConfig>,
    /// pythonConnect, if on.
    pub pyconnect: Option<pyconnect::PyConnectConfig>,
}

impl LegacyConfig {
    /// True when no gateway is asked for.
    pub fn is_empty(&self) -> bool {
        self.hub.is_none()
            && self.hein_serve.is_empty()
            && self.hein_connect.is_empty()
            && self.pyconnect.is_none()
    }
}

/// Why a gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// A socket could not be opened (port in use, permissions, multicast membership).
    #[error("{gateway}: cannot open {what}: {source}")]
    Socket {
        /// Which gateway.
        gateway: &'static str,
        /// Which socket.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The hub's registry file could not be read.
    #[error("twisted hub: cannot read the registry {path}: {message}")]
    Registry {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A topic is not a valid topic or pattern.
    #[error("{0}")]
    Topic(#[from] crate::topics::TopicError),
}

/// Connections one gateway serves at once (handshakes included); beyond it new ones are closed at once (and
/// counted as refused), so a flood of silent connections cannot pile up tasks.
pub const MAX_CONNECTIONS: usize = 256;

/// How often rejected legacy input is summed up in a warning (each reject is logged at debug level).
const REJECT_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Warns once a minute while legacy input is being refused, so a misbehaving old program is noticed without a
/// log line per datagram.
async fn warn_of_rejects(node: Arc<Node>, shutdown: CancellationToken) {
    use std::sync::atomic::Ordering::Relaxed;
    let rejected = || {
        let c = node.legacy_counters();
        c.hub_rejected.load(Relaxed)
            + c.hein_refused.load(Relaxed)
            + c.hein_bad_frames.load(Relaxed)
            + c.pyconnect_bad_input.load(Relaxed)
    };
    let mut warned = rejected();
    let mut tick = tokio::time::interval(REJECT_WARNING_INTERVAL);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = rejected();
        if now > warned {
            tracing::warn!(
                refused = now - warned,
                total = now,
                "legacy input refused in the last minute (see the legacy.* counters)"
            );
            warned = now;
        }
    }
}

/// A UDP socket bound to `addr` (an old tool's fixed port on the node's address), sharing the port with the
/// group socket bound to the same port.
pub(crate) fn udp_port_socket(
    addr: std::net::SocketAddrV4,
) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&std::net::SocketAddr::V4(addr).into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

impl LegacyError {
    /// A `map_err` for opening `what` of `gateway`.
    pub(crate) fn socket(
        gateway: &'static str,
        what: String,
    ) -> impl FnOnce(std::io::Error) -> LegacyError {
        move |source| LegacyError::Socket {
            gateway,
            what,
            source,
        }
    }
}

/// The running gateways of one node; [`Gateways::shutdown`] stops them.
pub struct Gateways {
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Gateways {
    /// Starts every gateway `config` asks for, beside `node`.
    pub async fn start(node: &Arc<Node>, config: LegacyConfig) -> Result<Gateways, LegacyError> {
        let gateways = Gateways {
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        };
        if let Some(hub) = config.hub {
            let task = hub::Hub::bind(node.clone(), hub).await?;
            gateways.tasks.spawn(task.run(gateways.shutdown.clone()));
        }
        for serve in config.hein_serve {
            let task = hein_transmitter::HeinTransmitter::bind(node.clone(), serve).await?;
            gateways.tasks.spawn(task.run(gateways.shutdown.clone()));
        }
        for connect in config.hein_connect {
            let task = hein_receiver::HeinReceiver::new(node.clone(), connect);
            gateways.tasks.spawn(task.run(gateways.shutdown.clone()));
        }
        if let Some(pyconnect) = config.pyconnect {
            let task = pyconnect::Gateway::bind(node.clone(), pyconnect).await?;
            gateways.tasks.spawn(task.run(gateways.shutdown.clone()));
        }
        gateways
            .tasks
            .spawn(warn_of_rejects(node.clone(), gateways.shutdown.clone()));
        Ok(gateways)
    }

    /// Stops every gateway and waits for them (hein receivers and pythonConnect connections are closed,
    /// proxied peers leave).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
