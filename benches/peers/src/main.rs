//! `peers-bench`: Herald's baselines, ZeroMQ and NATS on loopback, measured the way `herald-bench` measures
//! Herald so that `cargo xtask bench compare` can put them side by side.
//!
//! ZeroMQ is the system libzmq (Debian's `libzmq3-dev`) through the `zmq` crate; NATS is a `nats-server`
//! started for the run on a free 127.0.0.1 port (and stopped after it) with the `async-nats` client. Every
//! run is lossless, like `herald-bench --policy block`: ZeroMQ without a high-water mark, NATS with pending
//! limits far above what a run sends; anything not delivered is counted as `dropped` all the same. Every
//! subscriber and the echo server are separate processes (this binary in a hidden role), as Herald's nodes
//! would be. Each run prints one JSON line with `herald-bench --json`'s field names plus `system`.
//!
//! # Layout
//! - `pubsub`: one publisher to N subscriber processes: messages per second delivered, drops.
//! - `latency`: request/reply one at a time to an echo process: p50, p99, max round trip.
//! - `figures`: the JSON figures and the percentile rule (the same as `herald-bench`'s).
//! - `procs`: child processes (this binary's roles, `nats-server`), stopped when dropped; one clock for all.

mod figures;
mod latency;
mod procs;
mod pubsub;

use clap::{Parser, Subcommand, ValueEnum};

/// ZeroMQ and NATS baselines for Herald's messaging benchmarks (loopback only; one JSON line per run).
#[derive(Debug, Parser)]
#[command(name = "peers-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// One publisher to N subscriber processes: messages per second delivered (first publish to last delivery).
    Pubsub {
        /// Messaging system to measure.
        #[arg(long)]
        system: System,
        /// Subscriber processes.
        #[arg(long, default_value_t = 8)]
        subscribers: usize,
        /// Messages to publish.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Payload bytes per message (at least 1).
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Request/reply round trips one at a time to an echo server in a separate process: p50, p99, max.
    Latency {
        /// Messaging system to measure.
        #[arg(long)]
        system: System,
        /// Round trips to measure (after up to 1,000 for warm-up).
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        /// Request (and echoed reply) bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// One subscriber of `pubsub` (started by it).
    #[command(hide = true)]
    Subscriber {
        /// Messaging system.
        #[arg(long)]
        system: System,
        /// Where the publisher (ZeroMQ) or the server (NATS) is.
        #[arg(long)]
        addr: String,
        /// Messages the publisher will send.
        #[arg(long)]
        messages: u64,
    },
    /// The echo server of `latency` (started by it).
    #[command(hide = true)]
    Echo {
        /// Messaging system.
        #[arg(long)]
        system: System,
        /// Where the asker (ZeroMQ) or the server (NATS) is.
        #[arg(long)]
        addr: String,
    },
}

/// The systems measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// ZeroMQ PUB/SUB and REQ/REP over TCP (system libzmq).
    Zmq,
    /// NATS core publish/subscribe and request/reply through a local `nats-server`.
    Nats,
}

impl System {
    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            System::Zmq => "zmq",
            System::Nats => "nats",
        }
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse().bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line: what failed and why (the chain of causes).
            eprintln!("peers-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Pubsub {
            system,
            subscribers,
            messages,
            size,
        } => {
            let figures = pubsub::run(system, subscribers, messages, size)?;
            println!("{}", serde_json::to_string(&figures)?);
        }
        Bench::Latency {
            system,
            messages,
            size,
        } => {
            let figures = latency::run(system, messages, size)?;
            println!("{}", serde_json::to_string(&figures)?);
        }
        Bench::Subscriber {
            system,
            addr,
            messages,
        } => pubsub::subscriber(system, &addr, messages)?,
        Bench::Echo { system, addr } => latency::echo(system, &addr)?,
    }
    Ok(())
}
