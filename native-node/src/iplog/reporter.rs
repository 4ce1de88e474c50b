//! The reporting side: send this host's [`IpReport`] to a DynIP server and wait for its acknowledgement, which
//! the server sends only once the report is committed. Without one, the report is sent again after a wait that
//! doubles each time ([`Backoff`]), until acknowledged or out of attempts.
//!
//! Every attempt is a fresh report (new nonce, new timestamp), so a server with a key never takes a retry for
//! a replay; an acknowledgement of any earlier attempt counts too. With a key, replies must be signed with it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use herald_core::iplog::{
    classify_report_datagram, IpLogMessage, IpReport, ReportDatagram, ReportRefusal,
};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::server::seal;
use crate::auth::{self, Key, DEFAULT_REPLAY_WINDOW_MS};
use crate::clock::unix_ms;

/// Default attempts before giving up.
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// Wait for an acknowledgement after the first attempt; doubled after each one.
pub const FIRST_WAIT: Duration = Duration::from_millis(500);
/// Longest wait after one attempt.
pub const MAX_WAIT: Duration = Duration::from_secs(4);

/// How to report.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// The DynIP server.
    pub server: SocketAddr,
    /// The name to report.
    pub name: String,
    /// Shared key: sign reports, require signed replies.
    pub key: Option<Key>,
    /// Attempts before giving up (at least 1).
    pub attempts: u32,
    /// Wait after the first attempt (doubled each time, up to `max_wait`).
    pub first_wait: Duration,
    /// Longest wait after one attempt.
    pub max_wait: Duration,
    /// The address to report from (the server records the datagram's source); `None`: the one the routing
    /// table picks. The demo reports from several loopback addresses to stand for hosts that move.
    pub source: Option<IpAddr>,
}

impl ReporterConfig {
    /// Reports `name` to `server` with the default attempts and waits, unsigned.
    pub fn new(server: SocketAddr, name: impl Into<String>) -> ReporterConfig {
        ReporterConfig {
            server,
            name: name.into(),
            key: None,
            attempts: DEFAULT_ATTEMPTS,
            first_wait: FIRST_WAIT,
            max_wait: MAX_WAIT,
            source: None,
        }
    }
}

/// A report the server acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// Attempts sent before the acknowledgement came.
    pub attempts: u32,
    /// From the first attempt to the acknowledgement.
    pub elapsed: Duration,
}

/// Why a report was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The socket could not be opened or the report not sent.
    #[error("cannot send the report to {server}: {source}")]
    Io {
        /// The server.
        server: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The report could not be encoded (a name too long for one datagram).
    #[error("cannot encode the report: {0}")]
    Encode(#[from] herald_core::EncodeError),
    /// The server refused it for good (retrying would not help).
    #[error("the server refused the report: {}", refusal_text(*.0))]
    Refused(ReportRefusal),
    /// No acknowledgement after every attempt.
    #[error("no acknowledgement from {server} after {attempts} attempts")]
    NotAcknowledged {
        /// The server.
        server: SocketAddr,
        /// Attempts sent.
        attempts: u32,
    },
}

fn refusal_text(reason: ReportRefusal) -> &'static str {
    match reason {
        ReportRefusal::Auth => {
            "authentication (no key, wrong key, or a clock too far off the server's)"
        }
        ReportRefusal::HostCap => "its host cap is reached and this host is new",
        ReportRefusal::BadName => "the name is empty, too long or has control characters",
        ReportRefusal::Storage => "its storage failed",
    }
}

/// Waits between attempts: `first`, doubled after each attempt, at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first`, never above `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first.min(max),
            max,
        }
    }

    /// The wait after this attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Sends the report until it is acknowledged or refused, or the attempts run out.
pub async fn report(config: &ReporterConfig) -> Result<Acknowledged, ReportError> {
    let server = config.server;
    let io = |source| ReportError::Io { server, source };
    let local: IpAddr = match (config.source, server) {
        (Some(source), _) => source,
        (None, SocketAddr::V4(_)) => Ipv4Addr::UNSPECIFIED.into(),
        (None, SocketAddr::V6(_)) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((local, 0)).await.map_err(io)?;
    // Connected: the kernel passes on only the server's datagrams.
    socket.connect(server).await.map_err(io)?;
    let started = Instant::now();
    let mut backoff = Backoff::new(config.first_wait, config.max_wait);
    let mut sent = Vec::new();
    let mut buf = vec![0u8; 2048];
    let attempts = config.attempts.max(1);
    for attempt in 1..=attempts {
        let nonce: u64 = rand::random();
        let now_ms = unix_ms();
        let report = IpLogMessage::Report(IpReport {
            name: config.name.clone(),
            timestamp_ms: now_ms,
            nonce,
        });
        let bytes = seal(&report, config.key.as_ref(), now_ms)?;
        sent.push(nonce);
        if let Err(err) = socket.send(&bytes).await {
            // A refused port (the server restarting) shows up here: wait and try again.
            tracing::debug!(%server, %err, attempt, "report not sent");
        }
        let deadline = Instant::now() + backoff.next_wait();
        loop {
            let received = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(err)) => {
                    tracing::debug!(%server, %err, "no reply yet");
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Ok(len)) => &buf[..len],
            };
            match reply(received, config.key.as_ref(), &sent) {
                Some(Ok(())) => {
                    return Ok(Acknowledged {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                    })
                }
                Some(Err(ReportRefusal::Storage)) => {
                    tracing::debug!(%server, "the server's storage failed; retrying");
                }
                Some(Err(reason)) => return Err(ReportError::Refused(reason)),
                None => {}
            }
        }
        tracing::debug!(%server, attempt, "no acknowledgement yet");
    }
    Err(ReportError::NotAcknowledged { server, attempts })
}

/// The verdict a reply carries for one of `sent`, if it is a valid reply to us.
fn reply(bytes: &[u8], key: Option<&Key>, sent: &[u64]) -> Option<Result<(), ReportRefusal>> {
    let Ok(ReportDatagram::Herald(datagram)) = classify_report_datagram(bytes) else {
        return None;
    };
    if let Some(key) = key {
        let auth = datagram.auth.as_ref()?;
        if !key.verify(auth.signed_bytes, &auth.mac)
            || !auth::is_fresh(auth.timestamp_ms, unix_ms(), DEFAULT_REPLAY_WINDOW_MS)
        {
            tracing::debug!("reply with a bad or stale signature ignored");
            return None;
        }
    }
    match datagram.message {
        IpLogMessage::Ack { nonce } if sent.contains(&nonce) => Some(Ok(())),
        IpLogMessage::Refused { nonce, reason } if sent.contains(&nonce) => Some(Err(reason)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(2));
        let waits: Vec<_> = (0..5).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 2000, 2000]);
    }

    #[test]
    fn only_replies_to_our_nonces_signed_with_our_key_count() {
        let key = Key::from_bytes(vec![5; 32]);
        let now = unix_ms();
        let ack = seal(&IpLogMessage::Ack { nonce: 7 }, Some(&key), now).unwrap();
        assert_eq!(reply(&ack, Some(&key), &[6, 7]), Some(Ok(())));
        assert_eq!(reply(&ack, Some(&key), &[6]), None);
        let unsigned = seal(&IpLogMessage::Ack { nonce: 7 }, None, now).unwrap();
        assert_eq!(reply(&unsigned, Some(&key), &[7]), None);
        assert_eq!(reply(&unsigned, None, &[7]), Some(Ok(())));
        let refused = seal(
            &IpLogMessage::Refused {
                nonce: 7,
                reason: ReportRefusal::HostCap,
            },
            None,
            now,
        )
        .unwrap();
        assert_eq!(
            reply(&refused, None, &[7]),
            Some(Err(ReportRefusal::HostCap))
        );
        assert_eq!(reply(b"garbage", None, &[7]), None);
    }
}
