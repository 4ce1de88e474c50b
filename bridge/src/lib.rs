//! Herald's WebSocket bridge between a node and browsers, over [`herald_core::bridge`] types and channels only.
//!
//! A [`Bridge`] serves the built dashboard at `/`, the WebSocket at `/ws` (JSON text frames: the
//! [`herald_core::bridge`] protocol) and counters at `/metrics`. It does not know the node: the node feeds it
//! events with [`Bridge::emit`] and answers the [`ToNode`] requests it hands back, so it can be tested and
//! benchmarked alone.
//!
//! # Layout
//! - [`config`]: [`BridgeConfig`] and the documented limits.
//! - [`dashboard`]: the dashboard's files: embedded at build time (`build.rs`, gzip and brotli forms), from a
//!   directory, or the page saying how to get them; `encoding`: which encoding a request gets.
//! - [`access`]: token and Origin checks (sans-IO).
//! - `hub`: the clients and the fan-out (bounded queue per client, lag notices, disconnect when behind).
//! - `commands`: [`ToNode`], what the bridge asks of the node, and [`Responder`], the one reply per request.
//! - `client`: one connection's task over any sink and stream: snapshot, writer, reader, pings.
//! - `server`: the HTTP routes and the [`Bridge`] handle.
//! - [`metrics`]: the Prometheus text of the counters.
//!
//! # Queues
//! - Per client, [`config::DEFAULT_CLIENT_QUEUE`] events: when full the event is dropped for that client,
//!   counted (`bridge.events_dropped`), and announced to it as `lagged {missed}`; after
//!   [`config::DEFAULT_LAG_LIMIT`] of dropping it is closed (1008).
//! - Requests to the node: [`config::TO_NODE_CAPACITY`]; a client has one request in flight at a time, so a
//!   client sending faster than the node answers waits (its own reads slow down), nobody else does.

pub mod access;
mod client;
mod commands;
pub mod config;
mod counters;
pub mod dashboard;
mod encoding;
mod hub;
pub mod metrics;
mod server;

pub use commands::{Responder, ToNode};
pub use config::BridgeConfig;
pub use herald_core::bridge::{BridgeCommand, BridgeEvent, BridgeRequest};
pub use hub::{Audience, ClientId};
pub use server::{Bridge, BridgeError};
