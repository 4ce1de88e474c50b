//! Benchmarks behind `herald-bench`: each runs real nodes on loopback and returns its figures; the binary
//! prints them (one JSON object per line with `--json`).

pub mod discovery;
pub mod iplog;
pub mod latency;
pub mod pubsub;
