//! The `herald` binary: parses the command line, sets up logging on stderr, and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use herald_node::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.run().await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("herald: {err:#}");
            ExitCode::from(2)
        }
    }
}
