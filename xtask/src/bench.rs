//! `cargo xtask bench [ARGS...]`: builds `herald-bench` in release and runs it (default: `discovery`; `all`:
//! every benchmark in turn, JSON lines) inside a fresh network namespace with only loopback up, so no benchmark
//! traffic can leave the machine. `cargo xtask bench compare ...` compares Herald with ZeroMQ and NATS (see
//! `compare`); `cargo xtask bench python ...`, Herald from Python with pyzmq (`python::bench`).

use std::path::PathBuf;

use crate::process::{cargo, exec, in_fresh_netns, run_command};

/// What `cargo xtask bench all` runs, each with its defaults.
const ALL: &[&str] = &["discovery", "pubsub", "latency", "iplog", "bridge"];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("compare") {
        return crate::compare::run(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("python") {
        return crate::python::bench(&args[1..]);
    }
    let bench = build_herald_bench()?;
    let runs: Vec<Vec<String>> = match args {
        [] => vec![vec!["discovery".to_owned()]],
        [all] if all == "all" => ALL
            .iter()
            .map(|bench| vec![bench.to_string(), "--json".to_owned()])
            .collect(),
        _ => vec![args.to_vec()],
    };
    for args in runs {
        let mut unshare = in_fresh_netns(&bench);
        unshare.args(args);
        run_command(&mut unshare)?;
    }
    Ok(())
}

/// The build's target directory (`CARGO_TARGET_DIR`, else `target`).
pub fn target_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned()))
}

/// Builds `herald-bench` in release; returns its path.
pub fn build_herald_bench() -> anyhow::Result<PathBuf> {
    exec(
        &cargo(),
        [
            "build",
            "--release",
            "-p",
            "herald-node",
            "--bin",
            "herald-bench",
        ],
    )?;
    Ok(target_dir().join("release/herald-bench"))
}
