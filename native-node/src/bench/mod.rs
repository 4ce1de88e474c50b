//! Benchmarks behind `herald-bench`: each runs real nodes on loopback and returns its figures; the binary
//! prints them (one JSON object per line with `--json`).

pub mod bridge;
pub mod discovery;
pub mod iplog;
pub mod latency;
pub mod pubsub;
pub mod pubsub_processes;
pub mod site_subscriber;
pub mod sites;

/// Which tokio runtime a benchmark process runs on (`--runtime`); a subscriber process started by the
/// pub/sub benchmark runs on the same kind as its publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// `#[tokio::main]`'s default: worker threads, one per core, beside the main thread.
    #[default]
    MultiThread,
    /// `#[tokio::main(flavor = "current_thread")]`: everything on the main thread. A node's link readers and
    /// writers then run beside the application's code with no wake-ups across threads, and a publisher's
    /// links write what queued while it ran, in large batches.
    CurrentThread,
}

impl Runtime {
    /// Its name on the command line and in figures.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::MultiThread => "multi-thread",
            Runtime::CurrentThread => "current-thread",
        }
    }

    /// Builds it (I/O and timers enabled).
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread(),
            Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build()
    }
}

impl std::str::FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "multi-thread" => Ok(Runtime::MultiThread),
            "current-thread" => Ok(Runtime::CurrentThread),
            other => Err(format!(
                "unknown runtime {other:?} (multi-thread, current-thread)"
            )),
        }
    }
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// User + system CPU time of process `pid` so far.
pub(crate) fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state letter here.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::time::Duration::from_micros((ticks(11) + ticks(12)) * 1_000_000 / hz)
}
