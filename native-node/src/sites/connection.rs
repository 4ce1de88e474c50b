//! Connecting a site gateway to NATS: the servers (several for failover), credentials, TLS, and the client's
//! connection events, which are the one place that knows the wide area's state: each becomes a counter, a log
//! line, and a notice to the gateway task (which resyncs on every connect). The client reconnects forever
//! with capped exponential backoff ([`reconnect_delay`]); the first connection is also retried in the
//! background, so a site starts and works on its own while NATS is down.
//!
//! A gateway makes two connections, one per [`Purpose`]: topic messages on one, everything else (peer lists,
//! resync requests, direct messages, questions and their answers) on the other. The NATS client reads
//! everything that has arrived before it sends anything queued, so on a connection flooded with other sites'
//! messages a peer list or an answer would wait behind the flood (a second and more, seen under a sustained
//! burst: long enough for other sites to think this one silent and lose its peers).

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use tokio::sync::mpsc;

use super::{NatsAuth, SiteConfig, SiteError};
use crate::stats::bump;
use crate::Node;

/// The longest wait between two reconnect attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Messages one NATS subscription holds for the gateway (the client's queue) by default
/// ([`SiteConfig::subscription_capacity`]); beyond it the NATS client drops what comes in for that
/// subscription (core NATS has no flow control): counted as `nats.slow_consumer`, one
/// per notice of the client's (one per message dropped; a lower bound, as the client's notice queue drops too).
pub const SUBSCRIPTION_CAPACITY: usize = 64 * 1024;

/// Capacity of the queue of connection notices to the gateway task; when full, a notice is dropped (the next
/// heartbeat looks at the connection's state anyway).
const NOTICES: usize = 16;

/// What the gateway task hears about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// (Re)connected: resync.
    Connected,
    /// Lost.
    Disconnected,
}

/// What a gateway's connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Messages on Herald topics (`herald.v1.t.…`), both ways.
    Topics,
    /// Peer lists, resync requests, direct messages, questions and answers.
    Control,
}

impl Purpose {
    /// Its name in the connection's name and in log lines.
    fn name(self) -> &'static str {
        match self {
            Purpose::Topics => "topics",
            Purpose::Control => "control",
        }
    }
}

/// Wait before reconnect attempt `attempts`: 50 ms doubling up to [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempts: usize) -> Duration {
    let shift = attempts.min(16) as u32;
    Duration::from_millis(50u64.saturating_mul(1 << shift)).min(MAX_RECONNECT_DELAY)
}

/// Connects (in the background) with `config`'s servers, credentials and TLS, for `purpose`; connection events
/// are counted on `node` and noticed on the returned receiver.
pub(crate) async fn connect(
    node: &Arc<Node>,
    config: &SiteConfig,
    purpose: Purpose,
) -> Result<(Client, mpsc::Receiver<Notice>), SiteError> {
    let options = match &config.auth {
        NatsAuth::None => ConnectOptions::new(),
        NatsAuth::Token(token) => ConnectOptions::with_token(token.clone()),
        NatsAuth::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        NatsAuth::CredsFile(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|err| SiteError::Connect(format!("creds file {}: {err}", path.display())))?,
        NatsAuth::Nkey(seed) => ConnectOptions::with_nkey(seed.clone()),
    };
    let mut options = options
        .name(format!(
            "herald {} (site {}, {})",
            node.name(),
            config.site,
            purpose.name()
        ))
        .no_echo()
        // Every subject a gateway publishes on is built by `subjects` from checked parts (topics, the site,
        // node ids) or is a reply subject NATS gave: not checked again per message.
        .skip_subject_validation(true)
        .subscription_capacity(config.subscription_capacity.max(1))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(2))
        .require_tls(config.tls.required);
    if let Some(ca) = &config.tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls.client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let (tx, rx) = mpsc::channel(NOTICES);
    // Weak: the client (and this callback) may outlive the gateway for a moment; the node must not wait on it.
    let counting = Arc::downgrade(node);
    let site = config.site.clone();
    let options = options.event_callback(move |event| {
        let tx = tx.clone();
        let node = counting.upgrade();
        let site = site.clone();
        async move {
            let Some(node) = node else { return };
            let counters = node.site_counters();
            let notice = match event {
                Event::Connected => {
                    bump(&counters.connects);
                    tracing::info!(%site, connection = purpose.name(), "connected to NATS");
                    Some(Notice::Connected)
                }
                Event::Disconnected => {
                    bump(&counters.disconnects);
                    tracing::warn!(
                        %site,
                        connection = purpose.name(),
                        "lost NATS; reconnecting (the LAN carries on)"
                    );
                    Some(Notice::Disconnected)
                }
                Event::SlowConsumer(sid) => {
                    bump(&counters.slow_consumer);
                    tracing::warn!(
                        %site,
                        connection = purpose.name(),
                        sid,
                        "NATS client dropped messages for a slow subscription"
                    );
                    None
                }
                other => {
                    tracing::info!(%site, connection = purpose.name(), event = %other, "NATS");
                    None
                }
            };
            if let Some(notice) = notice {
                let _ = tx.try_send(notice);
            }
        }
    });
    let client = options
        .connect(config.urls.clone())
        .await
        .map_err(|err| SiteError::Connect(err.to_string()))?;
    Ok((client, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(1), Duration::from_millis(100));
        assert_eq!(reconnect_delay(4), Duration::from_millis(800));
        assert_eq!(reconnect_delay(7), MAX_RECONNECT_DELAY);
        assert_eq!(reconnect_delay(usize::MAX), MAX_RECONNECT_DELAY);
    }
}
