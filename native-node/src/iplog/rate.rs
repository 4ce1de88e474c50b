//! Per-source rate limiting for the DynIP port, sans-IO: a token bucket per source address, with the time
//! passed in.
//!
//! The table of sources is bounded ([`DEFAULT_MAX_SOURCES`]). When it is full, sources whose bucket has filled
//! up again (idle ones) are forgotten, at most once per [`SWEEP_INTERVAL`]; if none can be, a new source is
//! refused ([`Verdict::TableFull`]) until one can. The server counts and logs every refusal.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Default sustained datagrams per second from one source address.
pub const DEFAULT_RATE_PER_SEC: f64 = 20.0;
/// Default burst from one source address.
pub const DEFAULT_BURST: u32 = 100;
/// Default bound on source addresses tracked at once.
pub const DEFAULT_MAX_SOURCES: usize = 65_536;
/// Shortest time between two sweeps of idle sources from a full table.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A token bucket's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Bucket size: datagrams a quiet source may send at once.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_sec: DEFAULT_RATE_PER_SEC,
            burst: DEFAULT_BURST,
        }
    }
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the source's rate.
    Allowed,
    /// Over the source's rate: drop it.
    Limited,
    /// A new source while the table is full of active ones: drop it.
    TableFull,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per source address.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `limit` per source, tracking at most `max_sources` sources.
    pub fn new(limit: RateLimit, max_sources: usize) -> RateLimiter {
        RateLimiter {
            limit,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Takes a token for one datagram from `source` at `now`.
    pub fn check(&mut self, source: IpAddr, now: Instant) -> Verdict {
        let burst = f64::from(self.limit.burst.max(1));
        if let Some(bucket) = self.buckets.get_mut(&source) {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.limit.per_sec).min(burst);
            bucket.at = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return Verdict::Allowed;
            }
            return Verdict::Limited;
        }
        if self.buckets.len() >= self.max_sources && !self.sweep(now) {
            return Verdict::TableFull;
        }
        self.buckets.insert(
            source,
            Bucket {
                tokens: burst - 1.0,
                at: now,
            },
        );
        Verdict::Allowed
    }

    /// Forgets sources whose bucket is full again (forgetting them changes nothing); true if room was made.
    fn sweep(&mut self, now: Instant) -> bool {
        if self
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_INTERVAL)
        {
            return false;
        }
        self.last_sweep = Some(now);
        let burst = f64::from(self.limit.burst.max(1));
        let per_sec = self.limit.per_sec;
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens + elapsed * per_sec < burst
        });
        self.buckets.len() < self.max_sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut limiter = RateLimiter::new(
            RateLimit {
                per_sec: 2.0,
                burst: 3,
            },
            16,
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t0), Verdict::Allowed);
        }
        assert_eq!(limiter.check(ip(1), t0), Verdict::Limited);
        // Another source is not affected.
        assert_eq!(limiter.check(ip(2), t0), Verdict::Allowed);
        // Half a second at 2/s is one more token.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check(ip(1), t1), Verdict::Allowed);
        assert_eq!(limiter.check(ip(1), t1), Verdict::Limited);
        // Long idle: the bucket refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t2), Verdict::Allowed);
        }
        assert_eq!(limiter.check(ip(1), t2), Verdict::Limited);
    }

    #[test]
    fn a_full_table_forgets_idle_sources_and_refuses_while_all_are_busy() {
        let limit = RateLimit {
            per_sec: 1.0,
            burst: 2,
        };
        let mut limiter = RateLimiter::new(limit, 2);
        let t0 = Instant::now();
        assert_eq!(limiter.check(ip(1), t0), Verdict::Allowed);
        assert_eq!(limiter.check(ip(2), t0), Verdict::Allowed);
        // Both are below their burst: a third source is refused, and stays refused until a sweep may run.
        assert_eq!(limiter.check(ip(3), t0), Verdict::TableFull);
        assert_eq!(
            limiter.check(ip(3), t0 + Duration::from_millis(100)),
            Verdict::TableFull
        );
        // Two seconds later both buckets are full again: they are forgotten and the newcomer fits.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(limiter.check(ip(3), t1), Verdict::Allowed);
        assert!(limiter.sources() <= 2);
    }
}
