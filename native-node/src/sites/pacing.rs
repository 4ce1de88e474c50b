//! Pacing the site's peer list (sans-IO): a LAN change sends it at once when none went out for
//! [`PEERS_GAP`]; changes within that gap are coalesced into one list sent when the gap has passed, so a burst
//! of joins, leaves and topic changes costs one list per gap, not one per event. The heartbeat's list counts
//! as sent (and carries any change still pending).

use std::time::{Duration, Instant};

/// The shortest time between two peer lists sent for LAN changes.
pub const PEERS_GAP: Duration = Duration::from_millis(100);

/// When the site's peer list may go out next. See the module doc.
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    last_sent: Option<Instant>,
    pending: bool,
}

impl Pacing {
    /// The LAN changed at `now`: true when the list is to go out now (then call [`Pacing::sent`]); else it is
    /// pending until [`Pacing::due`].
    pub fn changed(&mut self, now: Instant) -> bool {
        let free = self
            .last_sent
            .is_none_or(|last| now.saturating_duration_since(last) >= PEERS_GAP);
        self.pending = !free;
        free
    }

    /// The list went out at `now` (for a change or a heartbeat): nothing is pending.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.pending = false;
    }

    /// When a pending change is to go out, if one is.
    pub fn due(&self) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(last)) => Some(last + PEERS_GAP),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_changes_sends_two_lists() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        assert!(pacing.changed(t0), "the first change goes out at once");
        pacing.sent(t0);
        assert_eq!(pacing.due(), None);
        for ms in [1, 20, 99] {
            assert!(!pacing.changed(t0 + Duration::from_millis(ms)));
        }
        assert_eq!(pacing.due(), Some(t0 + PEERS_GAP), "coalesced into one");
        pacing.sent(t0 + PEERS_GAP);
        assert_eq!(pacing.due(), None);
        assert!(pacing.changed(t0 + PEERS_GAP * 2), "a gap later: at once");
    }

    #[test]
    fn a_heartbeat_carries_a_pending_change() {
        let t0 = Instant::now();
        let mut pacing = Pacing::default();
        pacing.sent(t0); // a heartbeat
        assert!(!pacing.changed(t0 + Duration::from_millis(50)));
        assert!(pacing.due().is_some());
        pacing.sent(t0 + Duration::from_millis(60)); // the next heartbeat
        assert_eq!(pacing.due(), None);
    }
}
