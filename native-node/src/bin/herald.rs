//! The `herald` binary: parses the command line, sets up logging on stderr, and runs the chosen subcommand.
//!
//! A failure prints `herald: ` and its error chain on one line and exits 2; the backtrace that `anyhow`
//! captures where `RUST_BACKTRACE=1` is set is printed only with `-v`/`--debug` or an explicit
//! `RUST_LIB_BACKTRACE`.

use std::process::ExitCode;

use clap::Parser;
use herald_node::cli::Cli;

/// mimalloc rather than the system allocator: a node and a site gateway allocate and free per message, often on
/// different threads, where glibc's malloc took a fifth of a site gateway's time (README, `herald-bench sites`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let wants_backtrace = cli.log_filter() != "warn"
        || std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| v != "0");
    match cli.run().await {
        Ok(code) => code,
        Err(err) if wants_backtrace => {
            eprintln!("herald: {err:?}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("herald: {err:#}");
            ExitCode::from(2)
        }
    }
}
