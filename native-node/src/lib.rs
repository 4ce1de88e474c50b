//! The Herald node library: what runs on each host of the LAN.
//!
//! # Layout
//! Discovery, links, messaging and the IP log arrive with their issues; until then this crate holds the CLI's
//! entry points and re-exports the wire types of [`herald_core`] that its API speaks.

pub use herald_core as wire;

/// This node's software version, as `herald --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
