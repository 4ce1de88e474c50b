//! The event log: every event the bridge sent, newest last, bounded, filterable by kind or text.

use std::collections::VecDeque;

use herald_core::bridge::BridgeEvent;

use crate::text::lowercase;

/// Entries kept.
pub const MAX_LOG: usize = 1000;

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its number since the page loaded.
    pub seq: u64,
    /// The event's `type` (`peer_joined`, `message`, ...).
    pub kind: &'static str,
    /// The event as JSON.
    pub json: String,
}

/// The log.
#[derive(Debug, Default, Clone)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
    seq: u64,
}

impl EventLog {
    /// Logs an event.
    pub fn push(&mut self, event: &BridgeEvent) {
        self.push_json(event, event.to_json());
    }

    /// Logs an event whose JSON text is at hand.
    pub fn push_json(&mut self, event: &BridgeEvent, json: String) {
        self.seq += 1;
        self.entries.push_back(LogEntry {
            seq: self.seq,
            kind: kind(event),
            json,
        });
        if self.entries.len() > MAX_LOG {
            self.entries.pop_front();
        }
    }

    /// Entries whose kind or JSON contains `filter` (case-insensitive), oldest first.
    pub fn matching(&self, filter: &str) -> Vec<&LogEntry> {
        let filter = lowercase(filter.trim());
        self.entries
            .iter()
            .filter(|e| {
                filter.is_empty()
                    || e.kind.contains(&filter)
                    || lowercase(&e.json).contains(&filter)
            })
            .collect()
    }
}

/// The event's `type` as it is on the wire.
pub fn kind(event: &BridgeEvent) -> &'static str {
    match event {
        BridgeEvent::Snapshot(_) => "snapshot",
        BridgeEvent::PeerJoined { .. } => "peer_joined",
        BridgeEvent::PeerChanged { .. } => "peer_changed",
        BridgeEvent::PeerLeft { .. } => "peer_left",
        BridgeEvent::PeerLost { .. } => "peer_lost",
        BridgeEvent::Message(_) => "message",
        BridgeEvent::Answer { .. } => "answer",
        BridgeEvent::AskDone { .. } => "ask_done",
        BridgeEvent::IpChanged(_) => "ip_changed",
        BridgeEvent::Lagged { .. } => "lagged",
        BridgeEvent::Stats(_) => "stats",
        BridgeEvent::NodeError { .. } => "node_error",
        BridgeEvent::Reply(_) => "reply",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_wire_types_and_filters_match_kind_or_content() {
        let mut log = EventLog::default();
        let lag = BridgeEvent::Lagged { missed: 4 };
        let error = BridgeEvent::NodeError {
            context: "answer".into(),
            message: "Handler Panicked".into(),
        };
        log.push(&lag);
        log.push(&error);
        // The kind is what the JSON says the type is.
        for entry in log.matching("") {
            assert!(entry.json.contains(&format!("\"type\":\"{}\"", entry.kind)));
        }
        assert_eq!(log.matching("LAGGED").len(), 1);
        assert_eq!(log.matching("panicked")[0].seq, 2);
        for _ in 0..MAX_LOG {
            log.push(&lag);
        }
        assert_eq!(log.matching("").len(), MAX_LOG);
        assert!(log.matching("node_error").is_empty());
    }
}
