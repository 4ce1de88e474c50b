//! Identities that appear on every wire: [`NodeId`] (who a node is, stable across restarts) and [`PeerKind`]
//! (what sort of program stands behind a peer).

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A node's identity: 16 random bytes, chosen once per node name and kept in the state directory, so a
/// restarted node is recognised as the same peer.
///
/// Binary codecs carry the 16 bytes; JSON carries 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    /// Length of a node id in bytes.
    pub const LEN: usize = 16;

    /// Wraps 16 bytes (callers get them from a random source; `core` has none).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        NodeId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The first 8 hex digits, enough to tell nodes apart in a log line.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_owned()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// Why a string is not a node id.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("a node id is 32 hex digits")]
pub struct ParseNodeIdError;

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.as_bytes();
        if digits.len() != 2 * Self::LEN {
            return Err(ParseNodeIdError);
        }
        let mut bytes = [0u8; Self::LEN];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| ParseNodeIdError)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| ParseNodeIdError)?;
        }
        Ok(NodeId(bytes))
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(D::Error::custom)
        } else {
            <[u8; 16]>::deserialize(deserializer).map(NodeId)
        }
    }
}

/// What sort of program a peer is. Legacy kinds are peers that a Herald gateway proxies (see `via` in
/// [`crate::discovery::Beacon`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum PeerKind {
    /// A long-running Herald node (`herald node`).
    #[default]
    Herald,
    /// A short-lived CLI one-shot (`herald peers`, `herald publish`, ...).
    Cli,
    /// A hein 0.2.3 `SocReceiver` connected to a Herald node's hein transmitter port.
    HeinReceiver,
    /// A pythonConnect device.
    Pythonconnect,
    /// A Twisted hub service or client.
    TwistedHub,
    /// A DynIP reporter.
    Dynip,
    /// A DNS-SD service (a printer, a web server) found by mDNS and proxied by the Herald node that browsed it.
    Mdns,
}

impl PeerKind {
    /// The name used in JSON and on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Herald => "herald",
            PeerKind::Cli => "cli",
            PeerKind::HeinReceiver => "hein-receiver",
            PeerKind::Pythonconnect => "pythonconnect",
            PeerKind::TwistedHub => "twisted-hub",
            PeerKind::Dynip => "dynip",
            PeerKind::Mdns => "mdns",
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn node_id_text_round_trip(id: NodeId) {
            prop_assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), id);
            let bin = postcard::to_allocvec(&id).unwrap();
            prop_assert_eq!(bin.len(), NodeId::LEN);
            prop_assert_eq!(postcard::from_bytes::<NodeId>(&bin).unwrap(), id);
        }

        #[test]
        fn peer_kind_round_trip(kind: PeerKind) {
            let json = serde_json::to_string(&kind).unwrap();
            prop_assert_eq!(json.trim_matches('"'), kind.as_str());
            prop_assert_eq!(serde_json::from_str::<PeerKind>(&json).unwrap(), kind);
        }

        #[test]
        fn node_id_parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<NodeId>();
        }
    }

    #[test]
    fn node_id_rejects_bad_text() {
        assert_eq!("abc".parse::<NodeId>(), Err(ParseNodeIdError));
        assert_eq!("zz".repeat(16).parse::<NodeId>(), Err(ParseNodeIdError));
        assert_eq!("é".repeat(16).parse::<NodeId>(), Err(ParseNodeIdError));
        let id = NodeId([0xab; 16]);
        assert_eq!(id.short(), "abababab");
    }
}
