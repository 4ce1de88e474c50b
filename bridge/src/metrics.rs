//! `GET /metrics`: counters in the Prometheus text format (`bridge.events_dropped` → `herald_bridge_events_dropped`).

use std::fmt::Write;

use herald_core::bridge::Stats;

/// The Prometheus exposition of `stats`, one untyped sample per counter, sorted by name.
pub fn render(stats: &Stats) -> String {
    let mut text = String::new();
    for (name, value) in &stats.counters {
        let metric: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(text, "# TYPE herald_{metric} untyped");
        let _ = writeln!(text, "herald_{metric} {value}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_prometheus_metric_names() {
        let mut stats = Stats::default();
        stats.counters.insert("discovery.dropped.bad_tag".into(), 3);
        stats.counters.insert("bridge.clients".into(), 1);
        assert_eq!(
            render(&stats),
            "# TYPE herald_bridge_clients untyped\nherald_bridge_clients 1\n\
             # TYPE herald_discovery_dropped_bad_tag untyped\nherald_discovery_dropped_bad_tag 3\n"
        );
    }
}
