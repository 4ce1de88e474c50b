//! `cargo xtask fuzz [--seconds N | --runs N] [TARGET...]`: the cargo-fuzz targets of `fuzz/`, each for a while,
//! with a table of executions per target at the end. `cargo xtask test` runs each briefly through
//! [`run_targets`] when [`availability`] allows, and says loudly why when it does not.
//!
//! Each run starts from the seeds kept in the repository (`fuzz/seeds/<target>/`: the wire examples of
//! `LEGACY-WIRE.md` and the unit tests' samples) and writes what it finds to cargo-fuzz's own, git-ignored
//! `fuzz/corpus/<target>/`, which later runs reuse. A crash leaves its input in `fuzz/artifacts/<target>/`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};

use crate::process::{cargo, output};
use crate::steps::seconds;

const FUZZ_DIR: &str = "fuzz";

/// How long each target runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Seconds per target (`-max_total_time`).
    Seconds(u64),
    /// Executions per target (`-runs`).
    Runs(u64),
}

/// One target's run.
#[derive(Debug, Clone)]
pub struct TargetRun {
    /// The target.
    pub target: String,
    /// libFuzzer's count of executed inputs, if it printed one.
    pub executions: Option<u64>,
    /// Wall time, build included.
    pub took: std::time::Duration,
    /// Whether it ended without a crash.
    pub passed: bool,
}

/// `cargo xtask fuzz` itself.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut budget = Budget::Seconds(60);
    let mut chosen = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" | "--runs" => {
                let value: u64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("{arg} takes a whole number"))?;
                budget = if arg == "--seconds" {
                    Budget::Seconds(value)
                } else {
                    Budget::Runs(value)
                };
            }
            flag if flag.starts_with('-') => bail!("unknown flag {flag:?} (--seconds N, --runs N)"),
            target => chosen.push(target.to_owned()),
        }
    }
    if let Err(reason) = availability() {
        bail!("cannot fuzz: {reason}");
    }
    let all = targets()?;
    for target in &chosen {
        if !all.contains(target) {
            bail!("no fuzz target {target:?} (there are: {})", all.join(", "));
        }
    }
    let targets = if chosen.is_empty() { all } else { chosen };
    let runs = run_targets(&targets, budget)?;
    eprint!("{}", table(&runs));
    if runs.iter().any(|run| !run.passed) {
        bail!("a fuzz target failed: its input is in fuzz/artifacts/<target>/");
    }
    Ok(())
}

/// `Ok` when fuzzing can run here, else why not (a sentence).
pub fn availability() -> Result<(), String> {
    if !Path::new(FUZZ_DIR).join("Cargo.toml").exists() {
        return Err("there is no fuzz/Cargo.toml".into());
    }
    if output("rustup", &["--version"]).is_none() {
        return Err(
            "`rustup` is not on the PATH (cargo-fuzz needs a nightly toolchain through it)".into(),
        );
    }
    if !crate::setup::nightly_present() {
        return Err(
            "no nightly toolchain (`rustup toolchain install nightly`, then `cargo xtask setup`)"
                .into(),
        );
    }
    if output(&cargo(), &["fuzz", "--version"]).is_none() {
        return Err("cargo-fuzz is not installed (`cargo xtask setup` installs it)".into());
    }
    Ok(())
}

/// The targets `fuzz/Cargo.toml` declares, in its order.
pub fn targets() -> anyhow::Result<Vec<String>> {
    let manifest = std::fs::read_to_string(crate::project_root().join(FUZZ_DIR).join("Cargo.toml"))
        .context("read fuzz/Cargo.toml")?;
    Ok(bin_names(&manifest))
}

fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(value) = line.strip_prefix("name").map(str::trim_start) {
            if let (true, Some(name)) = (in_bin, value.strip_prefix('=')) {
                names.push(name.trim().trim_matches('"').to_owned());
            }
        }
    }
    names
}

/// Builds every target once, then runs each for `budget`; stops at the first build failure, not at a crash
/// (every target gets its turn).
pub fn run_targets(targets: &[String], budget: Budget) -> anyhow::Result<Vec<TargetRun>> {
    let mut build = nightly_cargo_fuzz("build");
    crate::process::run_command(&mut build).context("building the fuzz targets")?;
    let mut runs = Vec::new();
    for target in targets {
        let run = run_target(target, budget)?;
        eprintln!(
            "fuzz: {target}: {} executions in {}{}",
            run.executions.map_or("?".to_owned(), |n| n.to_string()),
            seconds(run.took),
            if run.passed { "" } else { ", FAILED" }
        );
        runs.push(run);
    }
    Ok(runs)
}

/// `rustup run nightly cargo fuzz SUBCOMMAND --fuzz-dir fuzz --sanitizer none`. The crates under test have
/// no `unsafe`, so AddressSanitizer finds nothing there and halves the rate; debug assertions stay on.
fn nightly_cargo_fuzz(subcommand: &str) -> Command {
    let mut command = Command::new("rustup");
    command.args([
        "run",
        "nightly",
        "cargo",
        "fuzz",
        subcommand,
        "--fuzz-dir",
        FUZZ_DIR,
        "--sanitizer",
        "none",
    ]);
    command
}

fn run_target(target: &str, budget: Budget) -> anyhow::Result<TargetRun> {
    // New inputs go to the first directory (git-ignored); the seeds are only read.
    let corpus = Path::new(FUZZ_DIR).join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("create {}", corpus.display()))?;
    let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
    let mut command = nightly_cargo_fuzz("run");
    command.arg(target).arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    let limit = match budget {
        Budget::Seconds(n) => format!("-max_total_time={n}"),
        Budget::Runs(n) => format!("-runs={n}"),
    };
    command
        .args(["--", &limit, "-print_final_stats=1"])
        .stderr(Stdio::piped());
    eprintln!("$ {command:?}");
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start the fuzz run of {target}"))?;
    let mut executions = None;
    // libFuzzer reports on stderr: pass it through and keep its count of executed inputs.
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.context("read the fuzzer's output")?;
        if let Some(n) = executed_units(&line) {
            executions = Some(n);
        }
        eprintln!("{line}");
    }
    let status = child.wait().context("wait for the fuzzer")?;
    Ok(TargetRun {
        target: target.to_owned(),
        executions,
        took: start.elapsed(),
        passed: status.success(),
    })
}

/// The count in libFuzzer's `stat::number_of_executed_units: N` or `Done N runs in S second(s)`.
fn executed_units(line: &str) -> Option<u64> {
    if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
        return rest.trim().parse().ok();
    }
    let rest = line.strip_prefix("Done ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Executions per target, a line each, and the total.
pub fn table(runs: &[TargetRun]) -> String {
    let width = runs
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "fuzz: executions per target\n  {:<width$}  {:>13}  {:>10}  {:>11}  result\n",
        "target", "executions", "per second", "time"
    );
    for run in runs {
        let rate = run
            .executions
            .map(|n| format!("{:.0}", n as f64 / run.took.as_secs_f64().max(0.001)))
            .unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "  {:<width$}  {:>13}  {:>10}  {:>11}  {}\n",
            run.target,
            run.executions.map_or("?".to_owned(), |n| n.to_string()),
            rate,
            seconds(run.took),
            if run.passed { "passed" } else { "FAILED" }
        ));
    }
    out
}

/// The loud notice `test` and `ci` print last when fuzzing did not run.
pub fn skipped_banner(reason: &str) -> String {
    let rule = "=".repeat(100);
    format!(
        "{rule}\n!! WARNING: FUZZING WAS SKIPPED: {reason}\n\
         !! The decoders were covered only by their property tests (`cargo test`), not by the fuzz targets.\n{rule}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_from_the_manifest() {
        let manifest = "[package]\nname = \"herald-fuzz\"\n\n[[bin]]\nname = \"decode_frame\"\npath = \"x.rs\"\n\
                        [dependencies]\nname = \"no\"\n[[bin]]\nname= \"hub_reply\"\n";
        assert_eq!(bin_names(manifest), ["decode_frame", "hub_reply"]);
        // The real manifest: one target per decoder.
        let real = targets().unwrap_or_default();
        assert!(real.len() >= 11, "{real:?}");
    }

    #[test]
    fn libfuzzer_counts_are_read() {
        assert_eq!(
            executed_units("stat::number_of_executed_units: 10234567"),
            Some(10_234_567)
        );
        assert_eq!(
            executed_units("Done 10000000 runs in 41 second(s)"),
            Some(10_000_000)
        );
        assert_eq!(executed_units("#4096\tpulse  cov: 312"), None);
    }

    #[test]
    fn the_banner_is_loud_and_names_the_reason() {
        let banner = skipped_banner("no nightly toolchain");
        assert!(banner.contains("WARNING: FUZZING WAS SKIPPED: no nightly toolchain"));
        assert!(banner.lines().count() >= 4);
    }
}
