//! The node's adapter to the WebSocket bridge (`herald-bridge`, which knows only `core`'s types): the one
//! place where the node's events take their bridge form, and, with the `bridge` feature, the task that feeds
//! a [`Bridge`](herald_bridge::Bridge) and answers its clients' commands with the node.
//!
//! - [`event_form`]: the bridge's (and the CLI's `--json`) form of every node event.
//! - `serve` (feature `bridge`): [`NodeBridge`], events out, commands in, snapshots, stats.

pub mod event_form;
#[cfg(feature = "bridge")]
mod serve;

#[cfg(feature = "bridge")]
pub use serve::{is_trouble_counter, NodeBridge, MAX_HISTORY_PAGE, STATS_EVERY};
