//! `cargo xtask`: Herald's automation in Rust. `main` only dispatches; one module per task.
//!
//! - `setup`: install what is missing (wasm target, trunk, wasm-bindgen-cli, wasm-pack, wasm-opt, Chromium).
//! - `web`: build the dashboard with trunk into `dist/`.
//! - `run`: setup, build, and start Herald's main job on http://127.0.0.1:8080 (a node and `herald demo`).
//! - `dist`: the Debian package and the tarball in `target/dist/` (`deb` makes the package).
//! - `python`: the `herald-lan` wheel (Herald for Python) in `target/wheels/`, built with maturin.
//! - `test`: every check and test (fmt, clippy, native, browser, Python), on the network as it is.
//! - `ci`: setup, build and fetch everything, then `test` inside a fresh network namespace (what `.ci/run` calls).
//! - `tidy`: the house rules a grep can check (also a `#[test]`); `--long-fns` lists long functions.
//! - `modgraph`: the node library's module graph in layers.
//! - `fuzz`: the cargo-fuzz targets, each for a while (nightly only), with executions per target.
//! - `bench`: `herald-bench` in release, inside a fresh network namespace; `bench compare`: against ZeroMQ and
//!   NATS (`compare`).
//!
//! A failure prints its error chain alone (`error: what failed: why`) and exits 1; the backtrace `anyhow`
//! captures where `RUST_BACKTRACE=1` is set is printed only with `-v` or an explicit `RUST_LIB_BACKTRACE`.

mod bench;
mod compare;
mod deb;
mod dist;
mod fuzz;
mod modgraph;
mod process;
mod python;
mod run;
mod serve;
mod setup;
mod steps;
mod test;
mod tidy;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

const HELP: &str = "\
usage: cargo xtask [-v] <task>

  -v      on failure, also print the backtrace (as does RUST_LIB_BACKTRACE=1)

tasks:
  setup   install missing tools (idempotent)
  web     build the dashboard into dist/ (trunk --release)
  run     setup + web + a release herald with the dashboard inside, then a node with the bridge on
          http://127.0.0.1:8080 and `herald demo` beside it (`--no-demo`: the node alone; more
          arguments go to `herald node`, e.g. `--interface eth0` for the LAN, which leaves the demo out)
  dist    the Debian package and the tarball (dashboard inside) in target/dist/
  python  [--dev | --test]: the herald-lan wheel (Herald for Python) in target/wheels/ (maturin,
          release build; --dev: the quicker dev build); then `pip install target/wheels/herald_lan-*.whl`.
          --test: `test`'s Python step alone (a dev wheel and pytest; needs the debug `herald`)
  test    fmt, clippy, native tests, brief fuzz runs (nightly), headless-browser tests, the
          Debian package's tests, the Python package's tests (pytest)
  ci      setup and builds, then `test` inside a fresh network namespace
  fuzz    [--seconds N | --runs N] [TARGET...]: fuzz each target longer (default 60 s each)
  tidy    house-rule checks (`--long-fns`: list functions over 80 lines)
  modgraph  the node library's module graph in layers, top first (the README's picture)
  bench   run herald-bench (default: discovery; `all`: discovery, pubsub, latency, iplog, bridge) on loopback in its own namespace
  bench compare [--quick] [--runs N] [--verbose]
          Herald against ZeroMQ and NATS (benches/peers), alternating, one table of medians and ratios
  bench python [--count N] [--rounds N] [--runs N]
          Herald from Python against pyzmq (release wheel), alternating, one table of medians and ratios
";

/// Set by `-v`: errors are printed with their backtrace.
static VERBOSE: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-v" | "--verbose")) {
        VERBOSE.store(true, Ordering::Relaxed);
        args.remove(0);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if err.downcast_ref::<Reported>().is_none() {
                report(&err);
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let task = args.first().cloned().unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    std::env::set_current_dir(project_root())?;
    match task.as_str() {
        "setup" => setup::run(),
        "web" => web::build(),
        "run" => run::run(rest),
        "dist" => dist::run(),
        "python" => python::run(rest),
        "test" => test::run(),
        "ci" => test::ci(),
        "tidy" if rest.iter().any(|a| a == "--long-fns") => tidy::long_fns(&project_root()),
        "tidy" => tidy::check(&project_root()),
        "modgraph" => modgraph::print(&project_root()),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        _ => {
            eprint!("{HELP}");
            if task.is_empty() || task == "help" || task == "--help" {
                Ok(())
            } else {
                anyhow::bail!("unknown task {task:?}")
            }
        }
    }
}

/// Prints a failure: its chain of causes on one line, and the backtrace only when asked for (`-v`, or
/// `RUST_LIB_BACKTRACE` set to something other than 0), not merely because `RUST_BACKTRACE=1` is set.
pub fn report(err: &anyhow::Error) {
    let wants_backtrace = VERBOSE.load(Ordering::Relaxed)
        || std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| v != "0");
    if wants_backtrace {
        eprintln!("error: {err:?}");
    } else {
        eprintln!("error: {err:#}");
    }
}

/// An error already printed (so that something else could be printed after it); `main` only exits 1.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reported above")
    }
}

impl std::error::Error for Reported {}

/// The workspace root: the parent of this crate's directory.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where set-up keeps tools that do not go to `~/.cargo/bin` (npm's binaryen): `$HERALD_TOOLS`, else
/// `~/.cache/herald/tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HERALD_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/herald/tools")
}
