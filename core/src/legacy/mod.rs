//! The wire formats of the four older tools Herald replaces, as sans-IO codecs: what they put on the wire
//! byte by byte (see `../shared/LEGACY-WIRE.md` in the project's workspace), quirks included. The node's
//! `legacy` modules drive them over sockets; nothing here does I/O, and decoding untrusted bytes never panics.
//!
//! - [`hein`]: hein 0.2.3's transmitter/receiver frames and its "extended JSON".
//! - [`pyconnect`]: pythonConnect's multicast adverts and `/EOL` text frames.
//! - [`hub`]: the Twisted hub's lookup, registration and removal datagrams and its replies.
//! - [`dynip`]: DynIP 0.1e's INI config file and JSON log (its hostname datagram lives with the IP log in
//!   [`crate::iplog`]).

pub mod dynip;
pub mod hein;
pub mod hub;
pub mod pyconnect;
