//! Herald's WebSocket bridge between a node and browsers, over [`herald_core::bridge`] types and channels only.
//!
//! # Layout
//! The server, per-client tasks and command routing arrive with the bridge issue. The protocol it speaks is
//! already fixed in [`herald_core::bridge`].

pub use herald_core::bridge::{BridgeCommand, BridgeEvent, BridgeRequest};
