//! Replay protection for signed reports, sans-IO: a signed report is accepted once, and only while its
//! timestamp is within the freshness window of the server's clock.
//!
//! Nonces are remembered in two generations, each [`ReplayGuard::window`] × 2 long, so a nonce is remembered
//! for at least as long as its timestamp could still pass the freshness check. Memory is bounded: a generation
//! holds at most `max_nonces`; past that, signed reports are refused ([`ReplayVerdict::Full`]) rather than
//! risking a replay. Only holders of the key can fill it.

use std::collections::HashSet;

use crate::auth;

/// Default bound on nonces remembered per generation.
pub const DEFAULT_MAX_NONCES: usize = 1 << 20;

/// What to do with a signed report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Fresh and never seen: accept (the nonce is now remembered).
    Fresh,
    /// The timestamp is outside the freshness window.
    Stale,
    /// This nonce was already accepted.
    Replayed,
    /// Too many nonces in this generation: refuse until it rotates.
    Full,
}

/// Remembered nonces of accepted signed reports.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    max_nonces: usize,
    current: HashSet<u64>,
    previous: HashSet<u64>,
    generation_start_ms: Option<u64>,
}

impl ReplayGuard {
    /// A guard with a freshness window of `window_ms` either way, remembering at most `max_nonces` per
    /// generation.
    pub fn new(window_ms: u64, max_nonces: usize) -> ReplayGuard {
        ReplayGuard {
            window_ms,
            max_nonces,
            current: HashSet::new(),
            previous: HashSet::new(),
            generation_start_ms: None,
        }
    }

    /// The freshness window (ms).
    pub fn window(&self) -> u64 {
        self.window_ms
    }

    /// Checks a signed report's timestamp and nonce at `now_ms`, remembering the nonce if it is accepted.
    pub fn check(&mut self, nonce: u64, timestamp_ms: u64, now_ms: u64) -> ReplayVerdict {
        if !auth::is_fresh(timestamp_ms, now_ms, self.window_ms) {
            return ReplayVerdict::Stale;
        }
        let start = *self.generation_start_ms.get_or_insert(now_ms);
        if now_ms.saturating_sub(start) >= self.window_ms.saturating_mul(2).max(1) {
            self.previous = std::mem::take(&mut self.current);
            self.generation_start_ms = Some(now_ms);
        }
        if self.current.contains(&nonce) || self.previous.contains(&nonce) {
            return ReplayVerdict::Replayed;
        }
        if self.current.len() >= self.max_nonces {
            return ReplayVerdict::Full;
        }
        self.current.insert(nonce);
        ReplayVerdict::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_and_stale_timestamps_never() {
        let mut guard = ReplayGuard::new(1_000, 16);
        assert_eq!(guard.check(7, 10_000, 10_000), ReplayVerdict::Fresh);
        assert_eq!(guard.check(7, 10_000, 10_500), ReplayVerdict::Replayed);
        assert_eq!(guard.check(8, 8_000, 10_500), ReplayVerdict::Stale);
        assert_eq!(guard.check(9, 12_000, 10_500), ReplayVerdict::Stale);
        // Still remembered after one rotation (a timestamp 1 s ahead passes the window until 2 s later).
        assert_eq!(guard.check(10, 12_000, 12_000), ReplayVerdict::Fresh);
        assert_eq!(guard.check(7, 12_900, 12_900), ReplayVerdict::Replayed);
        // Two rotations later it is forgotten, but by then its timestamp could not pass anyway.
        assert_eq!(guard.check(11, 14_000, 14_000), ReplayVerdict::Fresh);
        assert_eq!(guard.check(7, 10_000, 14_000), ReplayVerdict::Stale);
    }

    #[test]
    fn a_full_generation_refuses_rather_than_forgets() {
        let mut guard = ReplayGuard::new(1_000, 2);
        assert_eq!(guard.check(1, 0, 0), ReplayVerdict::Fresh);
        assert_eq!(guard.check(2, 0, 0), ReplayVerdict::Fresh);
        assert_eq!(guard.check(3, 0, 0), ReplayVerdict::Full);
        assert_eq!(guard.check(3, 2_000, 2_000), ReplayVerdict::Fresh);
    }
}
