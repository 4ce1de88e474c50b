//! The figures each run prints as one JSON line: the field names of `herald-bench --json` (so one parser
//! reads both) plus `system`, and the percentile rule `herald-bench latency` uses.

use std::time::Duration;

use serde::Serialize;

/// Figures of one pub/sub run.
#[derive(Debug, Clone, Serialize)]
pub struct PubSubFigures {
    /// `"zmq"` or `"nats"`.
    pub system: &'static str,
    /// Always `"pubsub"`.
    pub workload: &'static str,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Messages published.
    pub messages: u64,
    /// Payload bytes per message.
    pub size: usize,
    /// How full queues behave: always `"lossless"` here (no high-water mark, large pending limits).
    pub policy: &'static str,
    /// Messages received, all subscribers together.
    pub delivered: u64,
    /// Copies not delivered (`subscribers * messages - delivered`).
    pub dropped: u64,
    /// From the first publish to the last delivery.
    pub seconds: f64,
    /// `delivered / seconds`.
    pub msgs_per_s_delivered: f64,
    /// Payload megabytes delivered per second.
    pub mb_per_s: f64,
}

impl PubSubFigures {
    /// The figures of `subscribers` x `messages` copies expected, `delivered` of them in `seconds`.
    pub fn new(
        system: &'static str,
        subscribers: usize,
        messages: u64,
        size: usize,
        delivered: u64,
        seconds: f64,
    ) -> Self {
        let seconds = seconds.max(1e-9);
        PubSubFigures {
            system,
            workload: "pubsub",
            subscribers,
            messages,
            size,
            policy: "lossless",
            delivered,
            dropped: (subscribers as u64 * messages).saturating_sub(delivered),
            seconds,
            msgs_per_s_delivered: delivered as f64 / seconds,
            mb_per_s: delivered as f64 * size as f64 / seconds / 1e6,
        }
    }
}

/// Figures of one request/reply run.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    /// `"zmq"` or `"nats"`.
    pub system: &'static str,
    /// Always `"reqrep"`.
    pub workload: &'static str,
    /// Round trips measured.
    pub messages: u64,
    /// Request and reply bytes.
    pub size: usize,
    /// Median round trip (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Slowest (µs).
    pub max_us: f64,
    /// Whole measured run (s).
    pub seconds: f64,
}

impl LatencyFigures {
    /// The figures of the round trips `rtts` (any order), measured over `seconds`.
    pub fn new(system: &'static str, size: usize, mut rtts: Vec<Duration>, seconds: f64) -> Self {
        rtts.sort_unstable();
        LatencyFigures {
            system,
            workload: "reqrep",
            messages: rtts.len() as u64,
            size,
            p50_us: percentile_us(&rtts, 0.50),
            p99_us: percentile_us(&rtts, 0.99),
            max_us: percentile_us(&rtts, 1.0),
            seconds,
        }
    }
}

/// The `q` quantile of sorted durations in µs, as `herald-bench` takes it: the element at
/// `round((len - 1) * q)`. Zero for no durations.
pub fn percentile_us(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_herald_bench() {
        let rtts: Vec<Duration> = (1..=101).map(Duration::from_micros).collect();
        assert_eq!(percentile_us(&rtts, 0.5), 51.0);
        assert_eq!(percentile_us(&rtts, 0.99), 100.0);
        assert_eq!(percentile_us(&rtts, 1.0), 101.0);
        assert_eq!(percentile_us(&[], 0.5), 0.0);
    }

    #[test]
    fn drops_are_what_did_not_arrive() {
        let f = PubSubFigures::new("zmq", 8, 100, 64, 790, 1.0);
        assert_eq!(f.dropped, 10);
        assert_eq!(f.msgs_per_s_delivered, 790.0);
    }
}
