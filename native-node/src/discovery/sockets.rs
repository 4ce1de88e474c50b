//! Discovery's sockets: one bound to the multicast group (shared with every other node on the host), and one
//! unicast socket per node, bound to the interface's address, from which beacons are sent. Greetings,
//! lookup replies, seeds' peer lists and unicast beacons go to that unicast socket's address, so each
//! reaches exactly the node it is for. A node's unicast socket takes the discovery port (the group's,
//! 7268, by default) when it is free on that address, so other nodes can use it as a seed.
//! Also resolves [`InterfaceSpec`] to an IPv4 address.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::config::{InterfaceSpec, Seed};

/// Receive buffer asked for on the group socket: enough for a burst of beacons when many nodes start at once.
const GROUP_RECV_BUFFER: usize = 1 << 20;

/// Why an interface could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// No interface has that name, or it has no IPv4 address (yet).
    #[error("interface {0} not found or has no IPv4 address")]
    NotFound(String),
    /// Listing the interfaces failed.
    #[error("cannot list network interfaces: {0}")]
    List(#[from] io::Error),
}

/// The IPv4 address to use for `spec` now; `group` is where discovery sends (for the LAN default).
pub fn resolve(spec: &InterfaceSpec, group: SocketAddrV4) -> Result<Ipv4Addr, InterfaceError> {
    match spec {
        InterfaceSpec::Addr(ip) => Ok(*ip),
        InterfaceSpec::Name(name) => if_addrs::get_if_addrs()?
            .into_iter()
            .find_map(|iface| match iface.addr {
                if_addrs::IfAddr::V4(v4) if &iface.name == name => Some(v4.ip),
                _ => None,
            })
            .ok_or_else(|| InterfaceError::NotFound(name.clone())),
        InterfaceSpec::Lan => {
            if let Some(ip) = routed_source(group) {
                return Ok(ip);
            }
            let lan = if_addrs::get_if_addrs()?
                .into_iter()
                .find_map(|iface| match iface.addr {
                    if_addrs::IfAddr::V4(v4) if !v4.ip.is_loopback() => Some(v4.ip),
                    _ => None,
                });
            Ok(lan.unwrap_or_else(|| {
                tracing::warn!(
                    "no LAN interface with an IPv4 address; discovery stays on loopback"
                );
                Ipv4Addr::LOCALHOST
            }))
        }
    }
}

/// The source address the kernel's routing table picks for sending to `group` (usually the default route's
/// interface, not `docker0` or a VPN that happens to be listed first). A UDP `connect` sends nothing.
fn routed_source(group: SocketAddrV4) -> Option<Ipv4Addr> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect(group).ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() && !ip.is_loopback() => Some(ip),
        _ => None,
    }
}

/// The socket that receives the group's datagrams, joined on `iface`.
pub fn group_socket(group: SocketAddrV4, iface: Ipv4Addr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    if let Err(err) = socket.set_recv_buffer_size(GROUP_RECV_BUFFER) {
        tracing::debug!(%err, "could not enlarge the group socket's receive buffer");
    }
    // Binding the group address (Linux) delivers only the group's datagrams; elsewhere bind the wildcard.
    let bound = if cfg!(target_os = "linux") {
        socket.bind(&SocketAddr::V4(group).into())
    } else {
        socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, group.port())).into())
    };
    bound?;
    socket.join_multicast_v4(group.ip(), &iface)?;
    UdpSocket::from_std(socket.into())
}

/// A node's own socket on `iface` (ephemeral port): sends to the group, receives greetings and replies.
pub fn unicast_socket(iface: Ipv4Addr) -> io::Result<UdpSocket> {
    bind_unicast(iface, 0)
}

/// A node's own socket on `iface:port` when that port is free there, else on an ephemeral port (the second
/// value is then false: the caller says so in its log). `port` 0 asks for an ephemeral port at once.
pub fn discovery_socket(iface: Ipv4Addr, port: u16) -> io::Result<(UdpSocket, bool)> {
    if port == 0 {
        return Ok((bind_unicast(iface, 0)?, true));
    }
    match bind_unicast(iface, port) {
        Ok(socket) => Ok((socket, true)),
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => Ok((bind_unicast(iface, 0)?, false)),
        Err(err) => Err(err),
    }
}

fn bind_unicast(iface: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    // As a seed, or in a unicast mesh, beacons from every peer arrive here: room for a burst of them.
    if let Err(err) = socket.set_recv_buffer_size(GROUP_RECV_BUFFER) {
        tracing::debug!(%err, "could not enlarge the unicast socket's receive buffer");
    }
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(iface, port)).into())?;
    socket.set_multicast_if_v4(&iface)?;
    socket.set_multicast_loop_v4(true)?;
    // Discovery is for the local network: never routed further.
    socket.set_multicast_ttl_v4(1)?;
    UdpSocket::from_std(socket.into())
}

/// The seeds' IPv4 socket addresses (every address a name resolves to); a seed that does not resolve is
/// logged and left out.
pub async fn resolve_seeds(seeds: &[Seed]) -> Vec<SocketAddr> {
    let mut found = Vec::new();
    for seed in seeds {
        match tokio::net::lookup_host((seed.host.as_str(), seed.port)).await {
            Ok(addrs) => {
                let before = found.len();
                found.extend(addrs.filter(SocketAddr::is_ipv4));
                if found.len() == before {
                    tracing::warn!(%seed, "seed has no IPv4 address; left out");
                }
            }
            Err(err) => tracing::warn!(%seed, %err, "cannot resolve seed; left out"),
        }
    }
    found.dedup();
    found
}
