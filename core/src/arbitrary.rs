//! Property-test strategies (tests only) for fields whose derived strategies are either too big to run quickly
//! or produce values that no codec is meant to keep.
//!
//! serde's form of `SocketAddrV6` carries no scope id or flow info (both are local to one host, so they mean
//! nothing on the wire): addresses are generated without them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

/// A socket address as the wire keeps it: IPv4, or IPv6 without scope id or flow info.
pub fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

/// An optional wire socket address.
pub fn maybe_socket_addr() -> impl Strategy<Value = Option<SocketAddr>> {
    proptest::option::of(socket_addr())
}

/// A few services, `name -> ip:port`.
pub fn services() -> impl Strategy<Value = BTreeMap<String, SocketAddr>> {
    proptest::collection::btree_map(".{0,12}", socket_addr(), 0..4)
}

/// A few short strings (topics, names).
pub fn few_strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(".{0,16}", 0..4)
}

/// A few peers.
pub fn few_peers() -> impl Strategy<Value = Vec<crate::bridge::PeerInfo>> {
    proptest::collection::vec(any::<crate::bridge::PeerInfo>(), 0..4)
}

/// A few advertised services, `name -> port` (for beacons, on the binary wire).
#[cfg(feature = "wire")]
pub fn port_services() -> impl Strategy<Value = BTreeMap<String, u16>> {
    proptest::collection::btree_map(".{0,12}", any::<u16>(), 0..4)
}

/// A few TXT records (within the beacon's cap).
pub fn txt() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z]{1,8}", ".{0,16}", 0..4)
}
