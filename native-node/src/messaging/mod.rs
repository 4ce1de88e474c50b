//! Messaging over links: topic subscriptions and who on the LAN holds them, publishing, direct messages, the
//! outbound links this node opens on demand, the inbound links others opened to it (listed with the frames
//! read, beside the outbound ones in [`Node::links`](crate::node::Node::links)), and the reader of every link.
//!
//! Each node publishes over links it opens itself and receives over links others open to it, so a pair of
//! nodes that both publish has two links, one per direction: order per publisher–subscriber pair is the
//! order of one TCP stream. A link to a peer that left or was lost is closed. A peer that cannot be reached is
//! retried with a backoff from [`RECONNECT_BACKOFF_MIN`] doubling to [`RECONNECT_BACKOFF_MAX`]; copies
//! meanwhile are counted as not queued.
//!
//! Who subscribes to what comes from beacons, and over links for what a beacon cannot hold: a node sends its
//! whole subscription list (as `Subscribe` frames) on every link it accepts, then each later `Subscribe` or
//! `Unsubscribe`. A publisher opens a link at once to a peer whose beacon says `more_topics`, so it learns the
//! rest before it publishes; its routes are the beacon's topics together with what came over the link.
//!
//! # Layout
//! State, each part its own owner with one lock (sans-IO where it can be, unit-tested without sockets):
//! - `state`: `Messaging`, the parts together.
//! - `routes`: who subscribes to what, the subscriber bound and its refusals (sans-IO).
//! - `local`: this node's own subscriptions and the accepted (inbound) links: told of their changes,
//!   listed with the frames read from each.
//! - `links`: the outbound link pool and the reconnect backoff.
//! - `message`: [`Message`], what a subscription yields: shared bytes and names, no copy per message.
//! - `streams`: [`Subscription`] streams and the per-batch inbox.
//! - `fanout`: the cached fan-out of the topic published last.
//!
//! Operations over the node's shared state:
//! - `publish`: [`publish`](publish::publish) a message ([`PublishError`]).
//! - `direct`: direct messages ([`SendOutcome`]).
//! - `dial`: links opened on demand.
//! - `reader`: serving a link, dialled or accepted.
//! - `membership`: following peer events and link subscriptions.

mod dial;
mod direct;
mod fanout;
mod links;
mod local;
mod membership;
mod message;
mod publish;
mod reader;
mod routes;
mod state;
mod streams;

pub use direct::SendOutcome;
pub use links::{RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MIN};
pub use local::PATTERNS_PER_FRAME;
pub use message::Message;
pub use publish::PublishError;
pub use reader::READ_BATCH;
pub use routes::MAX_LINK_PATTERNS;
pub use streams::{Delivery, Subscription, SUBSCRIPTION_CAPACITY};

pub(crate) use dial::sender_for;
pub(crate) use direct::send_direct;
pub(crate) use membership::on_peer_event;
pub(crate) use publish::publish;
#[cfg(feature = "sites")]
pub(crate) use publish::publish_relayed;
pub(crate) use reader::{serve_link, Origin};
pub(crate) use state::Messaging;
