//! The Herald node library: what runs on each host of the LAN.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use herald_node::{Node, NodeConfig, NodeEvent};
//!
//! let mut config = NodeConfig::loopback("alpha", 7268);
//! config.services.insert("web".into(), 8080);
//! let node = Node::start(config).await?;
//! let mut events = node.events();
//! while let Some(event) = events.next().await {
//!     // The seed's "peer list changed" callback:
//!     if let NodeEvent::Peer(change) = event {
//!         println!("{:?}: {}", change.change, change.peer.name);
//!     }
//! }
//! println!("web is at {:?}", node.lookup("web"));
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`node`]: [`Node`], the handle: starts the tasks, owns shutdown; [`NodeEvent`]s and their stream.
//! - [`config`]: [`NodeConfig`] and its defaults.
//! - [`discovery`]: beacons on the multicast group, the sans-IO peer table, the socket task.
//! - [`link`]: node-to-node TCP links: the frame codec and the authenticated handshake.
//! - [`messaging`]: subscriptions, links opened on demand, and every link's reader.
//! - [`queue`]: a link's bounded outbound queue and its overflow policies (sans-IO).
//! - [`services`]: service lookup for processes that are not nodes.
//! - [`iplog`]: the IP log: DynIP reports over UDP, every host's address history in SQLite.
//! - [`topics`]: topic names, wildcard patterns and subscriber sets (sans-IO).
//! - [`ask`]: questions in flight, deadlines and per-name outcomes (sans-IO).
//! - [`auth`]: the shared key, HMAC tags and the replay window.
//! - [`identity`]: node ids kept per name in the state directory; default names.
//! - [`stats`]: counters for every drop and refusal.
//! - [`clock`]: unix milliseconds.
//! - [`bench`]: the benchmarks behind `herald-bench`.
//! - [`cli`]: the `herald` command line (the binary in `bin/herald.rs` only calls it).

pub mod ask;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod identity;
pub mod iplog;
pub mod link;
pub mod messaging;
pub mod node;
pub mod queue;
pub mod services;
pub mod stats;
pub mod topics;

pub use herald_core as wire;

pub use config::{InterfaceSpec, NodeConfig};
pub use node::{Events, Node, NodeEvent, StartError};

/// This node's software version, as `herald --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
