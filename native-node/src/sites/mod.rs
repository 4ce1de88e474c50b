//! Sites: LANs joined through NATS. A node started with a site name and a NATS server is its site's gateway:
//! it carries topics, peers, direct messages and questions between its LAN and the other sites' gateways.
//!
//! - [`subjects`]: the subject layout on NATS, a versioned contract plain NATS clients may rely on (sans-IO).
//! - [`remote`]: the peers of other sites, from their gateways' peer lists; joins, leaves, silence (sans-IO).
//! - [`pacing`]: when the site's peer list goes out for LAN changes (coalesced; sans-IO).
//! - `carry` (private): the per-message paths, export to NATS and import from it.
//! - `connection` (private): connecting to NATS (servers, credentials, TLS) and its events as counters.
//! - `endpoint` (private): a peer at another site as a proxied peer's endpoint (direct messages, questions).
//! - `forward` (private): the tasks that read one subscription each (control to the gateway task, topics
//!   both ways).
//! - `held` (private): what is held for NATS while a connection is down, per connection, bounded (sans-IO).
//! - `gateway` (private): the task that owns the NATS clients and does the carrying: [`SiteGateway`].
//!
//! What crosses: topic messages whose topic matches an exported pattern (and that a peer at another site
//! wants), the site's peer list (names, addresses, services, topics), and direct messages and questions to
//! named peers. The LAN key never leaves the LAN; NATS's own authentication and TLS protect the wide area.

pub mod pacing;
pub mod remote;
pub mod subjects;

mod carry;
mod connection;
mod endpoint;
mod forward;
mod gateway;
mod held;

use std::path::PathBuf;
use std::time::Duration;

pub use connection::{MAX_RECONNECT_DELAY, SUBSCRIPTION_CAPACITY};
pub(crate) use endpoint::sender_headers;
pub use gateway::{SiteGateway, GATEWAY_QUEUE, MAX_PATTERNS, MAX_REMOTE_ASKS};

/// Messages held for NATS while it is unreachable, by default; beyond it the oldest are dropped and counted
/// (`nats.backlog_dropped`).
pub const DEFAULT_BACKLOG: usize = 4096;

/// How often a gateway publishes its site's peer list, by default (a site is lost after
/// [`remote::SILENCE_BEATS`] of them without one).
pub const DEFAULT_SITE_HEARTBEAT: Duration = Duration::from_secs(2);

/// How a gateway proves itself to NATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    #[default]
    None,
    /// A token.
    Token(String),
    /// A user and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A `.creds` file (JWT and nkey seed), as `nsc` writes.
    CredsFile(PathBuf),
    /// An nkey seed (`SU...`).
    Nkey(String),
}

/// TLS towards NATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// Require TLS even if the server does not ask for it.
    pub required: bool,
    /// Extra root certificates (PEM) to trust.
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM) and its key, for servers that verify clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// A site gateway's configuration (`herald node --site NAME --nats URL`, or the `[nats]` config table).
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// This site's name: one NATS token (letters, digits, `-`, `_`).
    pub site: String,
    /// NATS servers (`nats://host:4222`); several for failover.
    pub urls: Vec<String>,
    /// Credentials.
    pub auth: NatsAuth,
    /// TLS.
    pub tls: NatsTls,
    /// Topic patterns whose messages may leave this site [default: `*`].
    pub export: Vec<String>,
    /// Topic patterns whose messages may come in from other sites [default: `*`].
    pub import: Vec<String>,
    /// How often the peer list goes out.
    pub heartbeat: Duration,
    /// Messages held while NATS is unreachable.
    pub backlog: usize,
    /// Messages each NATS subscription holds for the gateway (the NATS client's queue); beyond it the client
    /// drops what comes in for it, the newest (core NATS has no flow control), counted in `nats.slow_consumer`
    /// [default: [`SUBSCRIPTION_CAPACITY`]].
    pub subscription_capacity: usize,
}

impl SiteConfig {
    /// A gateway for `site` through the NATS server at `url`, exporting and importing every topic.
    pub fn new(site: impl Into<String>, url: impl Into<String>) -> SiteConfig {
        SiteConfig {
            site: site.into(),
            urls: vec![url.into()],
            auth: NatsAuth::None,
            tls: NatsTls::default(),
            export: vec!["*".into()],
            import: vec!["*".into()],
            heartbeat: DEFAULT_SITE_HEARTBEAT,
            backlog: DEFAULT_BACKLOG,
            subscription_capacity: SUBSCRIPTION_CAPACITY,
        }
    }
}

/// Why a site gateway did not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The site name is not one NATS token.
    #[error(transparent)]
    Site(#[from] subjects::SubjectError),
    /// No NATS server given.
    #[error("no NATS server given (--nats URL)")]
    NoServer,
    /// An export or import pattern is not a valid topic pattern.
    #[error("bad pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The NATS options could not be set up (a URL, a creds file, a certificate).
    #[error("NATS: {0}")]
    Connect(String),
    /// Another gateway already serves this site.
    #[error("{0}")]
    SecondGateway(String),
}
