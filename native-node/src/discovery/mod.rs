//! Discovery: beacons on the multicast group, the live peer table, and service lookups.
//!
//! - [`peers`]: the sans-IO [`PeerTable`](peers::PeerTable) and its [`PeerEvent`](peers::PeerEvent)s.
//! - [`beacon`]: the task that owns the sockets: sends beacons, greets newcomers, answers lookups, expires peers.
//! - [`seeds`]: the sans-IO [`SeedMesh`](seeds::SeedMesh): where beacons go by unicast (seeds, and the peers
//!   learned from them) where multicast is blocked, and when a newcomer is owed a peer list.
//! - [`sockets`]: the group and unicast sockets, and interface resolution.
//! - [`mdns`]: DNS-SD both ways: announcing the node to Avahi/Bonjour, and proxying the services it browses.
//!
//! This module also holds what both the beacon task and one-shot lookups need: sealing and opening datagrams
//! with the optional key, counting and logging every datagram that is dropped.

pub mod beacon;
pub mod mdns;
pub mod peers;
pub mod seeds;
pub mod sockets;

use std::net::SocketAddr;
use std::time::Duration;

use herald_core::discovery::{self as wire, DiscoveryMessage};
use herald_core::envelope::Signer;
use herald_core::{DecodeError, EncodeError};

use crate::auth::{self, Key};
use crate::stats::{bump, DiscoveryCounters};

/// Encodes a discovery message, signed with `key` (timestamped `now_ms`) when there is one.
pub fn seal(
    message: &DiscoveryMessage,
    key: Option<&Key>,
    now_ms: u64,
) -> Result<Vec<u8>, EncodeError> {
    match key {
        None => wire::encode_datagram(message, None),
        Some(key) => {
            let mac = |bytes: &[u8]| key.mac(bytes);
            wire::encode_datagram(
                message,
                Some(&Signer {
                    timestamp_ms: now_ms,
                    mac: &mac,
                }),
            )
        }
    }
}

/// Decodes and, with a key, authenticates a datagram from `from`; without a key, signed datagrams (a keyed
/// LAN's) are dropped. Every refusal is counted and logged at debug level; `None` means "dropped".
pub fn open(
    bytes: &[u8],
    from: SocketAddr,
    key: Option<&Key>,
    replay_window: Duration,
    now_ms: u64,
    counters: &DiscoveryCounters,
) -> Option<DiscoveryMessage> {
    let datagram = match wire::decode_datagram(bytes) {
        Ok(datagram) => datagram,
        Err(err) => {
            let counter = match err {
                DecodeError::BadMagic => &counters.dropped_foreign,
                DecodeError::TooLarge { .. } => &counters.dropped_oversized,
                DecodeError::BadVersion(_) => &counters.dropped_version,
                DecodeError::Truncated { .. } | DecodeError::Malformed(_) => {
                    &counters.dropped_malformed
                }
            };
            bump(counter);
            tracing::debug!(%from, len = bytes.len(), %err, "discovery datagram dropped");
            return None;
        }
    };
    let Some(key) = key else {
        // A keyed LAN's node: without the key we cannot tell its beacons from forgeries, and could not link to
        // it anyway (an unkeyed node and a keyed one never link), so it is not listed as a peer.
        if datagram.auth.is_some() {
            bump(&counters.dropped_signed);
            tracing::debug!(%from, "signed discovery datagram dropped (no key is configured)");
            return None;
        }
        bump(&counters.received);
        return Some(datagram.message);
    };
    {
        let Some(tag) = datagram.auth.as_ref() else {
            bump(&counters.dropped_unsigned);
            if matches!(datagram.message, DiscoveryMessage::PeerList(_)) {
                // An unkeyed sender handing out addresses on a keyed LAN: worth a line in the log.
                bump(&counters.peer_lists_unsigned);
                tracing::warn!(%from, "unsigned peer list refused (a key is configured)");
                return None;
            }
            tracing::debug!(%from, "unsigned discovery datagram dropped (a key is configured)");
            return None;
        };
        if !key.verify(tag.signed_bytes, &tag.mac) {
            bump(&counters.dropped_bad_tag);
            tracing::debug!(%from, "discovery datagram with a bad tag dropped");
            return None;
        }
        if !auth::is_fresh(tag.timestamp_ms, now_ms, replay_window.as_millis() as u64) {
            bump(&counters.dropped_replay);
            tracing::debug!(%from, timestamp_ms = tag.timestamp_ms, now_ms, "stale or replayed discovery datagram dropped");
            return None;
        }
    }
    bump(&counters.received);
    Some(datagram.message)
}
