//! Benchmarks behind `herald-bench`: each runs real nodes on loopback and returns its figures; the binary
//! prints them (one JSON object per line with `--json`).

pub mod bridge;
pub mod discovery;
pub mod iplog;
pub mod latency;
pub mod pubsub;
pub mod pubsub_processes;

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}
