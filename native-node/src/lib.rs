//! The Herald node library: what runs on each host of the LAN.
//!
//! Each callback of the older tools has an equivalent here:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use herald_node::{Delivery, IncomingQuestion, Node, NodeConfig, NodeEvent, Payload, Targets};
//!
//! let mut config = NodeConfig::loopback("alpha", 7268); // NodeConfig::new("alpha") on the LAN
//! config.services.insert("web".into(), 8080);
//! let node = Node::start(config).await?;
//!
//! // "answer a question": any async closure; an error or a panic becomes a `Failed` answer.
//! node.answer_with(|q: IncomingQuestion| async move {
//!     Ok(Payload::from(format!("{} asked {:?}", q.from_name, q.payload.as_text())))
//! });
//!
//! // "message received": a lossless stream per subscription, with gap notices in place.
//! let mut readings = node.subscription("sensors.*")?;
//! tokio::spawn(async move {
//!     while let Some(delivery) = readings.next().await {
//!         match delivery {
//!             Delivery::Message(m) => println!("{} on {:?}: {:?}", m.from_name, m.topic, m.text()),
//!             Delivery::Missed { from, count, .. } => eprintln!("{from} dropped {count} for us"),
//!         }
//!     }
//! });
//!
//! node.publish("sensors.kitchen", "21.5 C").await?;
//! node.send(Targets::All, "hello everyone").await; // or a name, or a list of names
//! let answers = node.ask(["bravo", "charlie"], "ping", Duration::from_secs(2)).await?;
//! println!("{answers:?}"); // every name: Answered { payload, latency_ms } or NoAnswer(reason)
//!
//! let mut events = node.events();
//! while let Some(event) = events.next().await {
//!     match event {
//!         // "peer list changed", and "new subscriber connected" (a peer whose topics now match ours)
//!         NodeEvent::Peer(change) => println!("{:?}: {} {:?}", change.change, change.peer.name, change.peer.topics),
//!         // direct messages (topic `None`), and topic messages for observers
//!         NodeEvent::Message(m) => println!("from {}: {:?}", m.from_name, m.payload),
//!         // "error"
//!         NodeEvent::AnswerFailed { from, reason } => eprintln!("answering {from} failed: {reason}"),
//!         NodeEvent::Refused { from, reason } => eprintln!("{from} refused us: {reason:?}"),
//!         _ => {}
//!     }
//! }
//! println!("web is at {:?}", node.lookup("web"));
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! From the top down; a module imports only from those below it (checked by `cargo xtask tidy`, and drawn in
//! the README's architecture section).
//! - [`node`]: [`Node`], the handle: starts the tasks, owns shutdown; the [`Events`] stream.
//! - `shared` (private): the state the handle and its tasks share, on the ground floor of the parts that
//!   act on it (discovery's beacon task, messaging, asking, answering, relaying).
//! - [`events`]: [`NodeEvent`], what a node tells its users.
//! - [`config`]: [`NodeConfig`] and its defaults.
//! - [`discovery`]: beacons on the multicast group, the sans-IO peer table, the socket task, unicast seeds,
//!   DNS-SD.
//! - [`link`]: node-to-node TCP links: the frame codec, the handshake, and Noise encryption with a key.
//! - [`messaging`]: subscriptions, links opened on demand, and every link's reader.
//! - [`queue`]: a link's bounded outbound queue and its overflow policies (sans-IO).
//! - [`services`]: service lookup for processes that are not nodes.
//! - [`proxies`]: legacy programs a node makes visible as peers (their beacons, their message endpoints).
//! - [`relaying`]: messages and questions for those legacy peers, through their gateway's link.
//! - `legacy` (feature `legacy`): the gateways to the old tools (Twisted hub, hein, pythonConnect).
//! - `sites` (feature `sites`): site gateways: LANs joined through NATS (topics, peers, questions).
//! - `iplog` (feature `iplog`): the IP log: DynIP reports over UDP, every host's address history in SQLite.
//! - [`topics`]: topic names, wildcard patterns and subscriber sets (sans-IO).
//! - [`questions`]: the book of questions in flight: deadlines and per-name outcomes (sans-IO).
//! - `awaiting` (private): the questions this node awaits, and the channels their outcomes go to.
//! - [`asking`]: asking peers over links and collecting their outcomes ([`Ask`]).
//! - [`answerer`]: the [`Answerer`] a user supplies, and the built-in answers.
//! - `answering` (private): running the answerer for each question, with the asker's timeout.
//! - [`auth`]: the shared key, HMAC tags and the replay window.
//! - [`identity`]: node ids kept per name in the state directory; default names.
//! - [`stats`]: counters for every drop and refusal.
//! - [`clock`]: unix milliseconds.
//! - [`bridge_adapter`]: the bridge form of the node's events; with `bridge`, the node's side of the WebSocket
//!   bridge (events out, clients' commands in).
//! - `bench` (feature `bench`): the benchmarks behind `herald-bench`.
//! - `cli` (feature `cli`): the `herald` command line (the binary in `bin/herald.rs` only calls it).
//!
//! # Features
//! With `default-features = false` the library is discovery, services, messaging, questions and keys, with
//! no command line, no WebSocket server and no SQLite. `iplog` brings the IP log, `bridge` the node's side of
//! the bridge (and the IP log), `legacy` the gateways to the old tools, `mdns` DNS-SD over mDNS
//! ([`discovery::mdns`]: announcing to Avahi/Bonjour, proxying what they announce), `cli` the `herald` command
//! line, and
//! `bench` the benchmarks; the defaults are `cli` and `bench`, what the two binaries need.

pub mod answerer;
mod answering;
pub mod asking;
pub mod auth;
mod awaiting;
#[cfg(feature = "bench")]
pub mod bench;
pub mod bridge_adapter;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod events;
pub mod identity;
#[cfg(feature = "iplog")]
pub mod iplog;
#[cfg(feature = "legacy")]
pub mod legacy;
pub mod link;
pub mod messaging;
pub mod node;
pub mod proxies;
pub mod questions;
pub mod queue;
pub mod relaying;
pub mod services;
mod shared;
#[cfg(feature = "sites")]
pub mod sites;
pub mod stats;
pub mod topics;

pub use herald_core as wire;

pub use answerer::{Answerer, HandlerError, IncomingQuestion};
pub use asking::{Ask, AskProgress};
pub use config::{InterfaceSpec, NodeConfig};
pub use events::NodeEvent;
pub use herald_core::bridge::Targets;
pub use herald_core::{AskOutcome, NoAnswer, Payload};
pub use messaging::{Delivery, Message, SendOutcome, Subscription};
pub use node::{Events, Node, StartError};

/// This node's software version, as `herald --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
