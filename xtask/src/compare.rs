//! `cargo xtask bench compare [--quick] [--runs N] [--verbose]`: Herald against ZeroMQ and NATS on this
//! machine, in one session, like with like (see `benches/peers/`, which measures the two peers the way
//! `herald-bench` measures Herald).
//!
//! It installs what the baselines need when missing (apt: `libzmq3-dev`, `pkg-config`, `nats-server`),
//! builds `herald-bench` and `benches/peers` (`peers-bench`, its own target directory under the workspace's)
//! in release, then runs a fixed matrix: each workload N times (default 3; `--quick`: shorter runs, 1 time),
//! Herald, ZeroMQ and NATS in turn, every run its own processes in a fresh network namespace with only
//! loopback up. It prints one table of medians and Herald's ratios; every raw JSON line goes to
//! `<target>/bench-compare.jsonl` (also to stderr with `--verbose`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};

use crate::process::{cargo, exec, in_fresh_netns, output};

/// What the baselines need from apt: libzmq with its pkg-config file (for the `zmq` crate) and the broker.
const APT_PACKAGES: &[&str] = &["libzmq3-dev", "pkg-config", "nats-server"];
/// Runs per workload and system without `--runs` (the median of 3, as DECISIONS.md asks).
const DEFAULT_RUNS: usize = 3;

const USAGE: &str = "usage: cargo xtask bench compare [--quick] [--runs N] [--verbose]";

/// One of the systems compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Herald,
    Zmq,
    Nats,
}

/// The order of every round: Herald, then each peer.
const SIDES: [Side; 3] = [Side::Herald, Side::Zmq, Side::Nats];

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Herald => "Herald",
            Side::Zmq => "ZeroMQ",
            Side::Nats => "NATS",
        }
    }

    /// The `system` field of its JSON lines.
    fn system(self) -> &'static str {
        match self {
            Side::Herald => "herald",
            Side::Zmq => "zmq",
            Side::Nats => "nats",
        }
    }
}

/// One workload of the matrix, with the same arguments on every side.
#[derive(Debug, Clone, Copy)]
enum Workload {
    /// One publisher to N subscribers, lossless: messages per second delivered.
    PubSub {
        subscribers: usize,
        messages: u64,
        size: usize,
        /// Herald's processes on a single-threaded tokio runtime (`--runtime current-thread`) rather than
        /// `#[tokio::main]`'s default; the peers run as always.
        current_thread: bool,
    },
    /// Ask/answer (request/reply) one at a time to another process: round-trip percentiles.
    Latency { messages: u64, size: usize },
}

/// The fixed matrix: 1 → 8 and 1 → 1 at 64 B, 1 → 8 at 1 KiB, each with Herald on either tokio runtime;
/// ask/answer at 64 B.
fn matrix(quick: bool) -> Vec<Workload> {
    let (many, kib, asks) = if quick {
        (200_000, 50_000, 5_000)
    } else {
        (2_000_000, 500_000, 20_000)
    };
    let mut matrix = Vec::new();
    for (subscribers, messages, size) in [(8, many, 64), (1, many, 64), (8, kib, 1024)] {
        for current_thread in [false, true] {
            matrix.push(Workload::PubSub {
                subscribers,
                messages,
                size,
                current_thread,
            });
        }
    }
    matrix.push(Workload::Latency {
        messages: asks,
        size: 64,
    });
    matrix
}

impl Workload {
    fn label(self) -> String {
        match self {
            Workload::PubSub {
                subscribers,
                messages,
                size,
                current_thread,
            } => format!(
                "pub/sub 1 → {subscribers}, {}, {} msgs{}",
                bytes(size),
                thousands(messages),
                if current_thread {
                    " (Herald current-thread)"
                } else {
                    ""
                }
            ),
            Workload::Latency { messages, size } => {
                format!(
                    "ask/answer {}, {} round trips",
                    bytes(size),
                    thousands(messages)
                )
            }
        }
    }

    /// The arguments of `herald-bench` (Herald) or `peers-bench` (the others) for this workload.
    fn args(self, side: Side, herald_processes: bool) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Workload::PubSub {
                subscribers,
                messages,
                size,
                ..
            } => vec![
                "pubsub".into(),
                "--subscribers".into(),
                subscribers.to_string(),
                "--messages".into(),
                messages.to_string(),
                "--size".into(),
                size.to_string(),
            ],
            Workload::Latency { messages, size } => vec![
                "latency".into(),
                "--messages".into(),
                messages.to_string(),
                "--size".into(),
                size.to_string(),
            ],
        };
        match side {
            Side::Herald => {
                if let Workload::PubSub { current_thread, .. } = self {
                    args.extend(["--policy".into(), "block".into()]);
                    if current_thread {
                        args.extend(["--runtime".into(), "current-thread".into()]);
                    }
                    if herald_processes {
                        args.push("--processes".into());
                    }
                }
                args.push("--json".into());
            }
            Side::Zmq | Side::Nats => args.extend(["--system".into(), side.system().into()]),
        }
        args
    }

    /// The figure of one run from its JSON line.
    fn figure(self, line: &str) -> Option<Figure> {
        Some(match self {
            Workload::PubSub { .. } => Figure::Throughput {
                per_s: number(line, "msgs_per_s_delivered")?,
                dropped: number(line, "dropped")? as u64,
            },
            Workload::Latency { .. } => Figure::Latency {
                p50_us: number(line, "p50_us")?,
                p99_us: number(line, "p99_us")?,
            },
        })
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
enum Figure {
    Throughput { per_s: f64, dropped: u64 },
    Latency { p50_us: f64, p99_us: f64 },
}

/// `--quick`, `--runs N`, `--verbose`.
struct Options {
    quick: bool,
    runs: usize,
    verbose: bool,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let (mut quick, mut runs, mut verbose) = (false, None, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--verbose" => verbose = true,
            "--runs" => {
                let n = args.next().context(USAGE)?;
                let n: usize = n
                    .parse()
                    .with_context(|| format!("--runs {n:?}: not a count"))?;
                anyhow::ensure!(n >= 1, "--runs must be at least 1");
                runs = Some(n);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let runs = runs.unwrap_or(if quick { 1 } else { DEFAULT_RUNS });
    Ok(Options {
        quick,
        runs,
        verbose,
    })
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = options(args)?;
    install_missing()?;
    let target = crate::bench::target_dir();
    let (herald, peers) = build(&target)?;
    // Whether herald-bench can put each subscriber in its own process (else they are nodes in one process).
    let herald_processes = output(path_str(&herald)?, &["pubsub", "--help"])
        .is_some_and(|help| help.contains("--processes"));
    let raw_path = target.join("bench-compare.jsonl");
    let mut raw = std::fs::File::create(&raw_path)
        .with_context(|| format!("create {}", raw_path.display()))?;

    let workloads = matrix(options.quick);
    let total = workloads.len() * options.runs * SIDES.len();
    let mut done = 0;
    let mut results = Vec::new();
    let mut failures = 0;
    for workload in &workloads {
        let mut figures: [Vec<Figure>; 3] = Default::default();
        for round in 1..=options.runs {
            for (i, side) in SIDES.into_iter().enumerate() {
                done += 1;
                let program = if side == Side::Herald {
                    &herald
                } else {
                    &peers
                };
                let args = workload.args(side, herald_processes);
                let step = format!(
                    "compare [{done}/{total}] {} · {} · run {round} of {}",
                    workload.label(),
                    side.label(),
                    options.runs
                );
                let figure = one_run(program, &args, options.verbose).and_then(|line| {
                    let tagged = tag(&line, side, round);
                    writeln!(raw, "{tagged}")?;
                    if options.verbose {
                        eprintln!("{tagged}");
                    }
                    workload
                        .figure(&line)
                        .with_context(|| format!("no figures in {line:?}"))
                });
                match figure {
                    Ok(figure) => {
                        eprintln!("{step}: {}", cell(&[figure]));
                        figures[i].push(figure);
                    }
                    Err(err) => {
                        eprintln!("{step}: failed: {err:#}");
                        failures += 1;
                    }
                }
            }
        }
        results.push((*workload, figures));
    }
    print!("{}", table(&results, &options, herald_processes, &raw_path));
    if failures > 0 {
        bail!("{failures} of {total} runs failed (see above); their cells show fewer runs or `failed`");
    }
    Ok(())
}

/// Installs the apt packages the baselines need, if any is missing.
fn install_missing() -> anyhow::Result<()> {
    let zmq = output("pkg-config", &["--exists", "libzmq"]).is_some();
    let nats = output("nats-server", &["--version"]).is_some()
        || Path::new("/usr/sbin/nats-server").exists();
    if zmq && nats {
        return Ok(());
    }
    eprintln!("compare: installing {} with apt", APT_PACKAGES.join(", "));
    crate::setup::apt_install(APT_PACKAGES)
}

/// Builds `herald-bench` and `peers-bench` in release; returns their paths.
fn build(target: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let herald_bench = crate::bench::build_herald_bench()?;
    let peers_target = target.join("peers");
    exec(
        &cargo(),
        [
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            "benches/peers/Cargo.toml",
            "--target-dir",
            path_str(&peers_target)?,
        ],
    )?;
    Ok((herald_bench, peers_target.join("release/peers-bench")))
}

/// Runs `program args...` in a fresh network namespace; returns the last JSON line it printed.
fn one_run(program: &Path, args: &[String], verbose: bool) -> anyhow::Result<String> {
    let mut command = in_fresh_netns(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if verbose {
        eprintln!("$ {} {}", program.display(), args.join(" "));
    }
    let out = command
        .output()
        .with_context(|| format!("could not start {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} exited with {}",
            program.display(),
            args.join(" "),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .map(|line| line.trim().to_owned())
        .context("it printed no JSON line")
}

/// The raw line with `run` (and `system`, which `herald-bench` does not print) added at the front.
fn tag(line: &str, side: Side, round: usize) -> String {
    let body = line.trim().strip_prefix('{').unwrap_or(line);
    if line.contains("\"system\":") {
        format!("{{\"run\":{round},{body}")
    } else {
        format!("{{\"run\":{round},\"system\":\"{}\",{body}", side.system())
    }
}

/// The number after `"key":` in a flat JSON object (enough for the benchmarks' own lines).
fn number(line: &str, key: &str) -> Option<f64> {
    let pattern = format!("\"{key}\":");
    let rest = line[line.find(&pattern)? + pattern.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Medians of one side's runs: throughput (and the most dropped in any run), or p50 and p99.
#[derive(Debug, Clone, Copy)]
enum Medians {
    Throughput { per_s: f64, dropped: u64 },
    Latency { p50_us: f64, p99_us: f64 },
}

fn medians(figures: &[Figure]) -> Option<Medians> {
    match figures.first()? {
        Figure::Throughput { .. } => {
            let (mut rates, mut dropped) = (Vec::new(), 0);
            for figure in figures {
                if let Figure::Throughput { per_s, dropped: d } = *figure {
                    rates.push(per_s);
                    dropped = dropped.max(d);
                }
            }
            Some(Medians::Throughput {
                per_s: median(&mut rates)?,
                dropped,
            })
        }
        Figure::Latency { .. } => {
            let (mut p50, mut p99) = (Vec::new(), Vec::new());
            for figure in figures {
                if let Figure::Latency { p50_us, p99_us } = *figure {
                    p50.push(p50_us);
                    p99.push(p99_us);
                }
            }
            Some(Medians::Latency {
                p50_us: median(&mut p50)?,
                p99_us: median(&mut p99)?,
            })
        }
    }
}

/// One cell: a side's median (and any drops).
fn cell(figures: &[Figure]) -> String {
    match medians(figures) {
        None => "failed".into(),
        Some(Medians::Throughput { per_s, dropped }) => {
            let mut text = format!("{:.2} M msgs/s", per_s / 1e6);
            if dropped > 0 {
                let _ = write!(text, ", {} dropped", thousands(dropped));
            }
            text
        }
        Some(Medians::Latency { p50_us, p99_us }) => {
            format!("p50 {p50_us:.1} µs, p99 {p99_us:.1} µs")
        }
    }
}

/// Herald's median over a peer's: throughput (higher is better) or p50 (lower is better, and said so).
fn ratio(herald: &[Figure], peer: &[Figure]) -> String {
    match (medians(herald), medians(peer)) {
        (
            Some(Medians::Throughput { per_s: h, .. }),
            Some(Medians::Throughput { per_s: p, .. }),
        ) if p > 0.0 => format!("{:.2}×", h / p),
        (Some(Medians::Latency { p50_us: h, .. }), Some(Medians::Latency { p50_us: p, .. }))
            if p > 0.0 =>
        {
            format!("{:.2}× (p50: lower is better)", h / p)
        }
        _ => "—".into(),
    }
}

/// The Markdown table of medians and ratios, with notes on what was compared.
fn table(
    results: &[(Workload, [Vec<Figure>; 3])],
    options: &Options,
    herald_processes: bool,
    raw_path: &Path,
) -> String {
    let header = [
        "workload",
        "Herald",
        "ZeroMQ",
        "NATS",
        "Herald/ZeroMQ",
        "Herald/NATS",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for (workload, [herald, zmq, nats]) in results {
        rows.push(vec![
            workload.label(),
            cell(herald),
            cell(zmq),
            cell(nats),
            ratio(herald, zmq),
            ratio(herald, nats),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |row: &[String]| {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(text, &width)| format!("{text}{}", " ".repeat(width - text.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = String::from("\n");
    out.push_str(&line(&rows[0]));
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&line(&rule));
    for row in &rows[1..] {
        out.push_str(&line(row));
    }
    let runs = match options.runs {
        1 => "one run each".to_owned(),
        n => format!("median of {n} runs each"),
    };
    let _ = writeln!(
        out,
        "\n{runs}{}; Herald, ZeroMQ and NATS in turn, each run in a fresh network namespace (loopback only).",
        if options.quick { " (--quick: shorter runs)" } else { "" }
    );
    out.push_str(
        "All lossless: Herald `--policy block`, ZeroMQ without a high-water mark, NATS with large pending limits; \
         any drops are shown in the cells.\n",
    );
    out.push_str(
        "Subscribers and answerers of ZeroMQ and NATS are separate processes; NATS messages pass through a \
         nats-server of the run's own.\n",
    );
    if !herald_processes {
        out.push_str(
            "Note: Herald's pub/sub subscribers are nodes in one process here (`herald-bench pubsub` has no \
             `--processes` flag); its ask/answer answerer is a separate process.\n",
        );
    }
    out.push_str(
        "Ratios are Herald's median over the peer's: for pub/sub (messages per second delivered) above 1 means \
         Herald is faster; for ask/answer (p50 round trip) below 1 does.\n",
    );
    let _ = writeln!(out, "Raw JSON lines: {}", raw_path.display());
    out
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn bytes(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_from_either_benchmarks_lines() {
        let herald = r#"{"workload":"pubsub","subscribers":8,"messages":1000,"size":64,"policy":"Block","delivered":8000,"dropped":0,"seconds":0.5,"msgs_per_s_delivered":16000.0,"mb_per_s":1.024}"#;
        assert_eq!(number(herald, "msgs_per_s_delivered"), Some(16000.0));
        assert_eq!(number(herald, "dropped"), Some(0.0));
        assert_eq!(number(herald, "p50_us"), None);
        let peer = r#"{"system":"zmq","workload":"reqrep","messages":5,"size":64,"p50_us":61.25,"p99_us":1.5e2,"max_us":200.0,"seconds":0.1}"#;
        assert_eq!(number(peer, "p99_us"), Some(150.0));
    }

    #[test]
    fn lines_are_tagged_with_run_and_system() {
        assert_eq!(
            tag(r#"{"a":1}"#, Side::Herald, 2),
            r#"{"run":2,"system":"herald","a":1}"#
        );
        assert_eq!(
            tag(r#"{"system":"nats","a":1}"#, Side::Nats, 1),
            r#"{"run":1,"system":"nats","a":1}"#
        );
    }

    #[test]
    fn medians_and_counts_read_well() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(bytes(1024), "1 KiB");
    }

    #[test]
    fn herald_runs_lossless_and_peers_name_their_system() {
        let w = Workload::PubSub {
            subscribers: 8,
            messages: 10,
            size: 64,
            current_thread: false,
        };
        let herald = w.args(Side::Herald, false).join(" ");
        assert_eq!(
            herald,
            "pubsub --subscribers 8 --messages 10 --size 64 --policy block --json"
        );
        assert!(w
            .args(Side::Herald, true)
            .contains(&"--processes".to_owned()));
        let single = Workload::PubSub {
            subscribers: 1,
            messages: 10,
            size: 64,
            current_thread: true,
        };
        assert!(single
            .args(Side::Herald, true)
            .join(" ")
            .ends_with("--policy block --runtime current-thread --processes --json"));
        assert!(!single
            .args(Side::Zmq, true)
            .contains(&"--runtime".to_owned()));
        let zmq = Workload::Latency {
            messages: 5,
            size: 64,
        }
        .args(Side::Zmq, false)
        .join(" ");
        assert_eq!(zmq, "latency --messages 5 --size 64 --system zmq");
    }
}
