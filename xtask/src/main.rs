//! `cargo xtask`: Herald's automation in Rust. `main` only dispatches; one module per task.
//!
//! - `setup`: install what is missing (wasm target, trunk, wasm-bindgen-cli, wasm-pack, wasm-opt, Chromium).
//! - `web`: build the dashboard with trunk into `dist/`.
//! - `run`: setup, build, and start Herald's main job on http://127.0.0.1:8080.
//! - `test`: every check and test (fmt, clippy, native, browser), on the network as it is.
//! - `ci`: setup, build and fetch everything, then `test` inside a fresh network namespace (what `.ci/run` calls).
//! - `tidy`: the house rules a grep can check (also a `#[test]`).
//! - `bench`: `herald-bench` in release, inside a fresh network namespace.

mod bench;
mod modgraph;
mod process;
mod run;
mod serve;
mod setup;
mod test;
mod tidy;
mod web;

use std::path::PathBuf;

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  setup   install missing tools (idempotent)
  web     build the dashboard into dist/ (trunk --release)
  run     setup + web, then run a node with the bridge on http://127.0.0.1:8080
          (more arguments go to `herald node`, e.g. `--interface eth0` for the LAN)
  test    fmt, clippy, native tests, headless-browser tests
  ci      setup and builds, then `test` inside a fresh network namespace
  tidy    house-rule checks (`--long-fns`: list functions over 80 lines)
  modgraph  the node library's module graph in layers, top first (the README's picture)
  bench   run herald-bench (default: discovery; `all`: discovery, pubsub, latency, iplog, bridge) on loopback in its own namespace
";

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    std::env::set_current_dir(project_root())?;
    match task.as_str() {
        "setup" => setup::run(),
        "web" => web::build(),
        "run" => run::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        "test" => test::run(),
        "ci" => test::ci(),
        "tidy" if std::env::args().any(|a| a == "--long-fns") => tidy::long_fns(&project_root()),
        "tidy" => tidy::check(&project_root()),
        "modgraph" => modgraph::print(&project_root()),
        "bench" => bench::run(&std::env::args().skip(2).collect::<Vec<_>>()),
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
