//! The DynIP UDP server: one task on one socket, receiving legacy hostname datagrams and Herald reports side by
//! side, and sending each Herald reporter its acknowledgement once the writer has committed its report.
//!
//! [`Gate`] is the sans-IO part: for each datagram (with the time passed in) it applies the per-source rate
//! limit, tells legacy from Herald, checks the key, the freshness window and replays, validates the name, and
//! says what to do ([`Admission`]). Every reject is counted and logged at debug level here; the task adds a
//! warning once a minute while rejects go on. Nothing a datagram holds can stop the server.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::envelope::Signer;
use herald_core::iplog::{
    classify_report_datagram, encode_report_datagram, legacy_hostname, IpChangeSource,
    IpLogMessage, ReportDatagram, ReportDatagramError, ReportRefusal,
};
use ipnet::IpNet;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::rate::{RateLimit, RateLimiter, Verdict as RateVerdict, DEFAULT_MAX_SOURCES};
use super::replay::{ReplayGuard, ReplayVerdict, DEFAULT_MAX_NONCES};
use super::store::Sighting;
use super::writer::{Job, ReplyTo, Verdict};
use crate::auth::{Key, DEFAULT_REPLAY_WINDOW_MS};
use crate::clock::unix_ms;
use crate::stats::{bump, IpLogCounters};

/// Receive buffer: larger than any accepted datagram, so an oversized one is seen as such (and refused).
const RECV_BUFFER: usize = 2048;
/// Socket receive buffer asked of the kernel, so a burst waits in the kernel rather than being lost there.
pub const SOCKET_RECV_BUFFER: usize = 4 << 20;
/// How often the task logs a warning while datagrams are being rejected.
const REJECT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Who may send what.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// Shared key: with one, unsigned, badly signed, stale and replayed reports are refused.
    pub key: Option<Key>,
    /// Networks whose legacy (unsigned) datagrams are accepted even with a key.
    pub legacy_allow: Vec<IpNet>,
    /// Freshness window of signed reports (ms).
    pub replay_window_ms: u64,
    /// Per-source rate limit; `None` for none (benchmarks).
    pub rate: Option<RateLimit>,
    /// Bound on the rate limiter's source table.
    pub max_sources: usize,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            key: None,
            legacy_allow: Vec::new(),
            replay_window_ms: DEFAULT_REPLAY_WINDOW_MS,
            rate: Some(RateLimit::default()),
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

/// What to do with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Store it (and acknowledge it after the commit, if it is a Herald report).
    Store(Job),
    /// Refuse this Herald report with a reply.
    Refuse(ReplyTo, ReportRefusal),
    /// Drop it (counted and logged already).
    Drop,
}

/// The sans-IO admission checks of the DynIP port.
#[derive(Debug)]
pub struct Gate {
    policy: GatePolicy,
    limiter: Option<RateLimiter>,
    replays: ReplayGuard,
    counters: Arc<IpLogCounters>,
}

impl Gate {
    /// A gate applying `policy`, counting into `counters`.
    pub fn new(policy: GatePolicy, counters: Arc<IpLogCounters>) -> Gate {
        Gate {
            limiter: policy
                .rate
                .map(|rate| RateLimiter::new(rate, policy.max_sources)),
            replays: ReplayGuard::new(policy.replay_window_ms, DEFAULT_MAX_NONCES),
            policy,
            counters,
        }
    }

    /// Decides what to do with `bytes` from `from`, received at `now` (`now_ms` on the wall clock).
    pub fn admit(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        now: Instant,
        now_ms: u64,
    ) -> Admission {
        let counters = &*self.counters;
        bump(&counters.received);
        if let Some(limiter) = &mut self.limiter {
            let verdict = limiter.check(from.ip(), now);
            if verdict != RateVerdict::Allowed {
                bump(&counters.rejected_rate_limited);
                tracing::debug!(%from, ?verdict, "dynip datagram rejected: rate limit");
                return Admission::Drop;
            }
        }
        let datagram = match classify_report_datagram(bytes) {
            Ok(datagram) => datagram,
            Err(ReportDatagramError::Decode(err)) => {
                bump(&counters.rejected_malformed);
                tracing::debug!(%from, len = bytes.len(), %err, "dynip datagram rejected: malformed");
                return Admission::Drop;
            }
            Err(ReportDatagramError::LegacyHostname(err)) => {
                bump(&counters.rejected_bad_name);
                tracing::debug!(%from, len = bytes.len(), %err, "legacy dynip datagram rejected");
                return Admission::Drop;
            }
        };
        let datagram = match datagram {
            ReportDatagram::Legacy(host) => return self.admit_legacy(host, from, now_ms),
            ReportDatagram::Herald(datagram) => datagram,
        };
        let IpLogMessage::Report(report) = datagram.message else {
            bump(&counters.rejected_malformed);
            tracing::debug!(%from, "dynip datagram rejected: not a report");
            return Admission::Drop;
        };
        let reply_to = ReplyTo {
            addr: from,
            nonce: report.nonce,
        };
        if let Some(key) = &self.policy.key {
            let Some(auth) = &datagram.auth else {
                bump(&counters.rejected_unsigned);
                tracing::debug!(%from, host = %report.name, "unsigned report refused (a key is configured)");
                return Admission::Refuse(reply_to, ReportRefusal::Auth);
            };
            if !key.verify(auth.signed_bytes, &auth.mac) {
                bump(&counters.rejected_bad_tag);
                tracing::debug!(%from, "report with a bad tag refused");
                return Admission::Refuse(reply_to, ReportRefusal::Auth);
            }
            let verdict = self.replays.check(report.nonce, auth.timestamp_ms, now_ms);
            if verdict != ReplayVerdict::Fresh {
                bump(&counters.rejected_replay);
                tracing::debug!(%from, ?verdict, timestamp_ms = auth.timestamp_ms, now_ms, "replayed or stale report refused");
                return Admission::Refuse(reply_to, ReportRefusal::Auth);
            }
        }
        if legacy_hostname(report.name.as_bytes()).as_deref() != Ok(report.name.as_str()) {
            bump(&counters.rejected_bad_name);
            tracing::debug!(%from, name = ?report.name, "report with a bad host name refused");
            return Admission::Refuse(reply_to, ReportRefusal::BadName);
        }
        Admission::Store(Job {
            sighting: Sighting {
                host: report.name,
                ip: canonical_ip(from.ip()),
                at_us: now_ms.saturating_mul(1000),
                source: IpChangeSource::Report,
            },
            reply_to: Some(reply_to),
        })
    }

    fn admit_legacy(&mut self, host: String, from: SocketAddr, now_ms: u64) -> Admission {
        let ip = canonical_ip(from.ip());
        if self.policy.key.is_some()
            && !self.policy.legacy_allow.iter().any(|net| net.contains(&ip))
        {
            bump(&self.counters.rejected_unsigned);
            tracing::debug!(%from, %host, "legacy datagram rejected: a key is configured and the source is not in the legacy allow-list");
            return Admission::Drop;
        }
        Admission::Store(Job {
            sighting: Sighting {
                host,
                ip,
                at_us: now_ms.saturating_mul(1000),
                source: IpChangeSource::LegacyReport,
            },
            reply_to: None,
        })
    }
}

/// An IPv4 address as itself even when it arrived on a dual-stack socket as `::ffff:a.b.c.d`.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Binds the DynIP socket, with a large receive buffer.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(err) = socket.set_recv_buffer_size(SOCKET_RECV_BUFFER) {
        tracing::debug!(%err, "cannot enlarge the DynIP socket's receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The server task: receives until `shutdown`, then stops feeding the writer and sends the verdicts of what it
/// had already queued, until the writer is done.
pub async fn run(
    socket: UdpSocket,
    mut gate: Gate,
    jobs: mpsc::Sender<Job>,
    mut verdicts: mpsc::Receiver<Vec<Verdict>>,
    shutdown: CancellationToken,
) {
    let counters = gate.counters.clone();
    let key = gate.policy.key.clone();
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut warn_tick = tokio::time::interval(REJECT_WARNING_INTERVAL);
    let mut rejects_warned = 0;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(batch) = verdicts.recv() => send_verdicts(&socket, batch, key.as_ref(), &counters).await,
            received = socket.recv_from(&mut buf) => {
                let (len, from) = match received {
                    Ok(received) => received,
                    Err(err) => {
                        // ICMP errors from earlier replies surface here on some systems; nothing to undo.
                        tracing::debug!(%err, "dynip receive error");
                        continue;
                    }
                };
                match gate.admit(&buf[..len], from, Instant::now(), unix_ms()) {
                    Admission::Store(job) => {
                        if let Err(err) = jobs.try_send(job) {
                            bump(&counters.rejected_busy);
                            tracing::debug!(%from, "dynip sighting dropped: the store's queue is full");
                            if let mpsc::error::TrySendError::Closed(_) = err {
                                break;
                            }
                        }
                    }
                    Admission::Refuse(to, reason) => {
                        send_verdicts(&socket, vec![(to, Err(reason))], key.as_ref(), &counters).await;
                    }
                    Admission::Drop => {}
                }
            }
            _ = warn_tick.tick() => {
                let rejects = rejects(&counters);
                if rejects > rejects_warned {
                    tracing::warn!(rejected = rejects - rejects_warned, total = rejects, "dynip datagrams rejected in the last minute (see the dynip.rejected.* counters)");
                    rejects_warned = rejects;
                }
            }
        }
    }
    drop(jobs);
    while let Some(batch) = verdicts.recv().await {
        send_verdicts(&socket, batch, key.as_ref(), &counters).await;
    }
}

/// Every reject so far, all reasons together.
pub fn rejects(counters: &IpLogCounters) -> u64 {
    [
        &counters.rejected_malformed,
        &counters.rejected_bad_name,
        &counters.rejected_unsigned,
        &counters.rejected_bad_tag,
        &counters.rejected_replay,
        &counters.rejected_host_cap,
        &counters.rejected_rate_limited,
        &counters.rejected_busy,
        &counters.rejected_storage,
    ]
    .iter()
    .map(|c| c.load(Ordering::Relaxed))
    .sum()
}

async fn send_verdicts(
    socket: &UdpSocket,
    batch: Vec<Verdict>,
    key: Option<&Key>,
    counters: &IpLogCounters,
) {
    for (to, verdict) in batch {
        let message = match verdict {
            Ok(()) => IpLogMessage::Ack { nonce: to.nonce },
            Err(reason) => IpLogMessage::Refused {
                nonce: to.nonce,
                reason,
            },
        };
        let bytes = match seal(&message, key, unix_ms()) {
            Ok(bytes) => bytes,
            Err(err) => {
                bump(&counters.reply_errors);
                tracing::warn!(%err, "cannot encode a dynip reply");
                continue;
            }
        };
        match socket.send_to(&bytes, to.addr).await {
            Ok(_) => bump(match message {
                IpLogMessage::Ack { .. } => &counters.acks_sent,
                _ => &counters.refusals_sent,
            }),
            Err(err) => {
                bump(&counters.reply_errors);
                tracing::debug!(to = %to.addr, %err, "dynip reply not sent");
            }
        }
    }
}

/// Encodes a DynIP message, signed with `key` (timestamped `now_ms`) when there is one.
pub fn seal(
    message: &IpLogMessage,
    key: Option<&Key>,
    now_ms: u64,
) -> Result<Vec<u8>, herald_core::EncodeError> {
    match key {
        None => encode_report_datagram(message, None),
        Some(key) => {
            let mac = |bytes: &[u8]| key.mac(bytes);
            encode_report_datagram(
                message,
                Some(&Signer {
                    timestamp_ms: now_ms,
                    mac: &mac,
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_core::iplog::IpReport;

    use super::*;

    fn from(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40_000)
    }

    fn report(name: &str, nonce: u64) -> IpLogMessage {
        IpLogMessage::Report(IpReport {
            name: name.into(),
            timestamp_ms: 0,
            nonce,
        })
    }

    fn gate(policy: GatePolicy) -> (Gate, Arc<IpLogCounters>) {
        let counters = Arc::new(IpLogCounters::default());
        (Gate::new(policy, counters.clone()), counters)
    }

    fn count(counters: &IpLogCounters, name: &str) -> u64 {
        counters.snapshot().counters[name]
    }

    #[test]
    fn legacy_and_unsigned_reports_are_stored_without_a_key() {
        let (mut gate, _) = gate(GatePolicy::default());
        let now = Instant::now();
        let Admission::Store(job) = gate.admit(b"laptop-7\n", from("10.0.0.5"), now, 1_000) else {
            panic!("legacy datagram not stored")
        };
        assert_eq!(job.sighting.host, "laptop-7");
        assert_eq!(job.sighting.source, IpChangeSource::LegacyReport);
        assert_eq!(job.reply_to, None);
        let bytes = seal(&report("vm", 9), None, 1_000).unwrap();
        let Admission::Store(job) = gate.admit(&bytes, from("10.0.0.6"), now, 1_000) else {
            panic!("report not stored")
        };
        assert_eq!(job.reply_to.map(|r| r.nonce), Some(9));
        assert_eq!(job.sighting.ip, "10.0.0.6".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn with_a_key_only_fresh_signed_reports_and_allow_listed_legacy_pass() {
        let key = Key::from_bytes(vec![3; 32]);
        let (mut gate, counters) = gate(GatePolicy {
            key: Some(key.clone()),
            legacy_allow: vec!["192.168.1.0/24".parse().unwrap()],
            ..GatePolicy::default()
        });
        let now = Instant::now();
        let now_ms = 1_000_000;
        let signed = seal(&report("vm", 1), Some(&key), now_ms).unwrap();
        assert!(matches!(
            gate.admit(&signed, from("10.0.0.1"), now, now_ms),
            Admission::Store(_)
        ));
        // The same bytes again: a replay.
        assert!(matches!(
            gate.admit(&signed, from("10.0.0.1"), now, now_ms + 10),
            Admission::Refuse(_, ReportRefusal::Auth)
        ));
        // Tampered: one byte of the body flipped.
        let mut tampered = seal(&report("vm", 2), Some(&key), now_ms).unwrap();
        tampered[8] ^= 0x01;
        assert!(!matches!(
            gate.admit(&tampered, from("10.0.0.1"), now, now_ms),
            Admission::Store(_)
        ));
        // Signed with another key, unsigned, stale.
        let other = seal(
            &report("vm", 3),
            Some(&Key::from_bytes(vec![4; 32])),
            now_ms,
        )
        .unwrap();
        assert!(matches!(
            gate.admit(&other, from("10.0.0.1"), now, now_ms),
            Admission::Refuse(_, ReportRefusal::Auth)
        ));
        let unsigned = seal(&report("vm", 4), None, now_ms).unwrap();
        assert!(matches!(
            gate.admit(&unsigned, from("10.0.0.1"), now, now_ms),
            Admission::Refuse(_, ReportRefusal::Auth)
        ));
        let stale = seal(&report("vm", 5), Some(&key), now_ms - 60_000).unwrap();
        assert!(matches!(
            gate.admit(&stale, from("10.0.0.1"), now, now_ms),
            Admission::Refuse(_, ReportRefusal::Auth)
        ));
        // Legacy: only from the allow-list.
        assert_eq!(
            gate.admit(b"old-box", from("10.0.0.1"), now, now_ms),
            Admission::Drop
        );
        assert!(matches!(
            gate.admit(b"old-box", from("192.168.1.20"), now, now_ms),
            Admission::Store(_)
        ));
        assert_eq!(count(&counters, "dynip.rejected.replay"), 2);
        assert_eq!(count(&counters, "dynip.rejected.unsigned"), 2);
        assert!(
            count(&counters, "dynip.rejected.bad_tag")
                + count(&counters, "dynip.rejected.malformed")
                >= 2
        );
    }

    #[test]
    fn garbage_and_bad_names_are_counted_and_dropped() {
        let (mut gate, counters) = gate(GatePolicy::default());
        let now = Instant::now();
        for garbage in [
            &b"\0HIP\x09"[..],
            b"\0garbage",
            &[0u8; 600],
            b"\r\n",
            b"tab\there",
            &[0xff, 0xfe],
        ] {
            assert_eq!(
                gate.admit(garbage, from("10.0.0.1"), now, 0),
                Admission::Drop,
                "{garbage:?}"
            );
        }
        let bad_name = seal(&report("bad\u{7}name", 1), None, 0).unwrap();
        assert!(matches!(
            gate.admit(&bad_name, from("10.0.0.1"), now, 0),
            Admission::Refuse(_, ReportRefusal::BadName)
        ));
        let ack = seal(&IpLogMessage::Ack { nonce: 1 }, None, 0).unwrap();
        assert_eq!(gate.admit(&ack, from("10.0.0.1"), now, 0), Admission::Drop);
        assert_eq!(count(&counters, "dynip.rejected.malformed"), 4);
        assert_eq!(count(&counters, "dynip.rejected.bad_name"), 4);
        assert_eq!(count(&counters, "dynip.received"), 8);
    }

    #[test]
    fn a_flooding_source_is_rate_limited() {
        let (mut gate, counters) = gate(GatePolicy {
            rate: Some(RateLimit {
                per_sec: 1.0,
                burst: 5,
            }),
            ..GatePolicy::default()
        });
        let now = Instant::now();
        let stored = (0..100)
            .filter(|_| {
                matches!(
                    gate.admit(b"flood", from("10.0.0.1"), now, 0),
                    Admission::Store(_)
                )
            })
            .count();
        assert_eq!(stored, 5);
        assert_eq!(count(&counters, "dynip.rejected.rate_limited"), 95);
        assert!(matches!(
            gate.admit(b"calm", from("10.0.0.2"), now, 0),
            Admission::Store(_)
        ));
    }
}
