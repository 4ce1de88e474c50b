//! The bridge connection's state as the views show it, and the reconnect backoff.

use std::fmt;

use crate::num;

/// Where the dashboard stands with the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Opening the WebSocket.
    Connecting,
    /// Open; events arrive.
    Live,
    /// Open, but the bridge said this client missed events.
    Lagging {
        /// Events missed so far.
        missed: u64,
    },
    /// Closed; a reconnect is scheduled.
    Disconnected {
        /// Why it closed, as far as the browser says.
        reason: String,
        /// Milliseconds until the next attempt.
        retry_in_ms: u32,
    },
}

impl ConnState {
    /// A short word for the state, used as a CSS class and in tests.
    pub fn key(&self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Live => "live",
            ConnState::Lagging { .. } => "lagging",
            ConnState::Disconnected { .. } => "disconnected",
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnState::Connecting => f.write_str("Connecting…"),
            ConnState::Live => f.write_str("Live"),
            ConnState::Lagging { missed } => write!(f, "Lagging: missed {missed} events"),
            ConnState::Disconnected {
                reason,
                retry_in_ms,
            } => {
                write!(
                    f,
                    "Disconnected ({reason}); retrying in {} s",
                    num::dec1(*retry_in_ms as f64 / 1000.0)
                )
            }
        }
    }
}

/// Reconnect delays: doubling from [`Backoff::FIRST_MS`] up to [`Backoff::MAX_MS`], reset once live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Delay after the first failure.
    pub const FIRST_MS: u32 = 500;
    /// Longest delay.
    pub const MAX_MS: u32 = 10_000;

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay_ms(&mut self) -> u32 {
        let delay = Self::FIRST_MS
            .saturating_mul(1 << self.failures.min(15))
            .min(Self::MAX_MS);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// The connection went live: start again from the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u32> = (0..8).map(|_| backoff.next_delay_ms()).collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(), 500);
    }

    #[test]
    fn states_read_well() {
        assert_eq!(ConnState::Connecting.to_string(), "Connecting…");
        let down = ConnState::Disconnected {
            reason: "refused".into(),
            retry_in_ms: 1500,
        };
        assert_eq!(
            down.to_string(),
            "Disconnected (refused); retrying in 1.5 s"
        );
        assert_eq!(down.key(), "disconnected");
        assert_eq!(ConnState::Lagging { missed: 3 }.key(), "lagging");
    }
}
