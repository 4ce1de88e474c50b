//! Herald's wire types and codecs, shared by the node, the bridge and the browser dashboard.
//!
//! `herald-core` has no tokio, no sockets and no clock (times are passed in as unix milliseconds), so it builds
//! for `wasm32-unknown-unknown` too. Decoding untrusted bytes never panics: it returns a [`DecodeError`].
//!
//! # Layout
//! - [`ids`]: [`NodeId`] and [`PeerKind`], on every wire.
//! - [`payload`]: [`Payload`], user bytes; `{"text"}` or `{"base64"}` in JSON.
//! - [`discovery`]: beacons and service lookups on the multicast group, in a signed-or-plain datagram envelope.
//! - [`frame`]: the frames on node-to-node TCP links and their length-prefixed codec.
//! - [`handshake`]: the messages that open a link (preamble, Noise handshake, refusal) and the framing of
//!   encrypted link bytes; sans-IO, no cryptography.
//! - [`question`]: [`AskOutcome`], what came of asking a peer.
//! - [`iplog`]: IP-history records, and Herald and legacy DynIP report datagrams.
//! - [`legacy`]: the wire formats of the older tools Herald speaks to (hein, pythonConnect, the Twisted hub,
//!   DynIP's config file and JSON log).
//! - [`bridge`]: the JSON protocol between a node's bridge and browsers.
//! - `tagged`: the bridge's internally tagged enums, written and read with the tag first, without buffering.
//! - [`envelope`]: the datagram layout shared by discovery and IP reports.
//! - [`error`]: [`DecodeError`] and [`EncodeError`].
//!
//! # Features
//! - `wire` (default): the binary side (discovery datagrams, link frames and handshake, IP-report datagrams,
//!   the legacy codecs, [`DecodeError`]) and its `postcard` dependency. Without it (`default-features = false`)
//!   the crate holds only the JSON types a bridge client needs ([`bridge`], [`ids`], [`payload`], [`question`],
//!   [`iplog`]'s periods and changes): the browser dashboard builds so.
//!
//! # Versioning
//! Every binary message carries [`PROTOCOL_VERSION`]. A change to any binary type bumps it; a node that meets
//! another version ignores its beacons (counting them) and refuses its links with `Refused { reason: Version }`.

#[cfg(all(test, not(target_arch = "wasm32")))]
mod arbitrary;
pub mod bridge;
#[cfg(feature = "wire")]
pub mod discovery;
#[cfg(feature = "wire")]
pub mod envelope;
#[cfg(feature = "wire")]
pub mod error;
#[cfg(feature = "wire")]
pub mod frame;
#[cfg(feature = "wire")]
pub mod handshake;
pub mod ids;
pub mod iplog;
#[cfg(feature = "wire")]
pub mod legacy;
pub mod payload;
pub mod question;
mod tagged;

#[cfg(feature = "wire")]
pub use error::{DecodeError, EncodeError};
pub use ids::{NodeId, PeerKind};
pub use payload::Payload;
pub use question::{AskOutcome, NoAnswer};

/// The binary protocol version carried by every datagram and frame (2: `Frame::Relay`, for legacy peers;
/// 3: links start with [`handshake`] messages, and keyed links are encrypted with Noise).
pub const PROTOCOL_VERSION: u8 = 3;

/// This crate's version, for `Hello::software` and `herald --version`.
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
