//! `cargo xtask test` runs every check and test (the Debian package's last: it needs a release build); `cargo xtask ci` first installs and fetches everything, then
//! runs `test` inside a fresh network namespace with only loopback up, so no test traffic can leave the machine.
//! Both time each step and end with a table of them; when fuzzing could not run, the very last lines say so
//! and why.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

use crate::fuzz::Budget;
use crate::process::{cargo, exec, in_fresh_netns, run_command};
use crate::steps::Steps;

/// Chromium flags for running headless as root on a machine without internet.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Seconds each fuzz target runs in `test` when nightly and cargo-fuzz are present (`HERALD_FUZZ_SECONDS`).
const DEFAULT_FUZZ_SECONDS: u64 = 10;

pub fn run() -> anyhow::Result<()> {
    let mut steps = Steps::new("test");
    let result = run_steps(&mut steps);
    finish(&steps, result, "test: all passed")
}

fn run_steps(steps: &mut Steps) -> anyhow::Result<()> {
    let cargo = cargo();
    steps.run("fmt", || exec(&cargo, ["fmt", "--all", "--check"]))?;
    steps.run("clippy", || {
        exec(
            &cargo,
            [
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    steps.run("clippy wasm32", || {
        exec(
            &cargo,
            [
                "clippy",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                "herald-core",
                "-p",
                "herald-dashboard",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    // The node library alone, as an embedder (the Python package, a user's program) depends on it: no CLI, no
    // bridge, no SQLite, no gateways.
    steps.run("clippy library alone", || {
        exec(
            &cargo,
            [
                "clippy",
                "-p",
                "herald-node",
                "--no-default-features",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    // The end-to-end tests run the real binaries and serve the built dashboard: build both first.
    steps.run("build binaries", || {
        exec(&cargo, ["build", "--workspace", "--bins"])
    })?;
    steps.run("build dashboard", crate::web::build)?;
    steps.run("dashboard renders", dashboard_renders)?;
    // --no-fail-fast: one failing test binary must not hide the others' results.
    steps.run("native tests", || {
        exec(&cargo, ["test", "--workspace", "--no-fail-fast"])
    })?;
    match crate::fuzz::availability() {
        Ok(()) => {
            let seconds = std::env::var("HERALD_FUZZ_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_FUZZ_SECONDS);
            steps.run("fuzz (brief)", || {
                let targets = crate::fuzz::targets()?;
                let runs = crate::fuzz::run_targets(&targets, Budget::Seconds(seconds))?;
                eprint!("{}", crate::fuzz::table(&runs));
                if runs.iter().any(|run| !run.passed) {
                    bail!("a fuzz target failed: its input is in fuzz/artifacts/<target>/");
                }
                Ok(())
            })?;
        }
        Err(reason) => steps.skip("fuzz (brief)", &reason),
    }
    steps.run("browser tests", browser_tests)?;
    // What a LAN host installs: the release build with the dashboard inside, the .deb and the tarball, then
    // the tests that extract and run them (ignored by the plain `cargo test` above, which cannot build them).
    steps.run("dist package", || {
        let outputs = crate::dist::build()?;
        eprintln!(
            "test: herald with its dashboard inside is {}; {} is {}",
            crate::dist::megabytes(outputs.binary_bytes),
            outputs.deb.display(),
            crate::dist::megabytes(std::fs::metadata(&outputs.deb)?.len())
        );
        Ok(())
    })?;
    steps.run("dist tests", || {
        exec(
            &cargo,
            [
                "test",
                "-p",
                "herald-tests",
                "--test",
                "dist",
                "--",
                "--ignored",
            ],
        )
    })?;
    // Herald for Python: the wheel (dev profile), installed into set-up's venv, and its pytest suite
    // against the CLI built above.
    steps.run("python tests", crate::python::test)?;
    Ok(())
}

/// Ends a task: the table of steps, the verdict, and (last, so nobody misses it) the notice that fuzzing was
/// skipped, if it was.
fn finish(steps: &Steps, result: anyhow::Result<()>, passed: &str) -> anyhow::Result<()> {
    eprint!("{}", steps.summary());
    match &result {
        Ok(()) => eprintln!("{passed}"),
        Err(err) => crate::report(err),
    }
    if let Err(reason) = crate::fuzz::availability() {
        eprint!("{}", crate::fuzz::skipped_banner(&reason));
    }
    result.map_err(|_| crate::Reported.into())
}

pub fn ci() -> anyhow::Result<()> {
    let mut steps = Steps::new("ci");
    let result = ci_steps(&mut steps);
    finish(&steps, result, "ci: all passed")
}

fn ci_steps(steps: &mut Steps) -> anyhow::Result<()> {
    steps.run("setup", crate::setup::run)?;
    // Everything that needs the registries happens here, before the network namespace.
    steps.run("fetch", || exec(&cargo(), ["fetch"]))?;
    if crate::fuzz::availability().is_ok() {
        steps.run("fetch fuzz", || {
            exec(&cargo(), ["fetch", "--manifest-path", "fuzz/Cargo.toml"])
        })?;
    }
    let xtask = std::env::current_exe().context("path of xtask")?;
    let mut unshare = in_fresh_netns(&xtask);
    unshare.arg("test").env("CARGO_NET_OFFLINE", "true");
    steps.run("test (fresh network namespace)", || {
        run_command(&mut unshare).context("the test suite, inside a fresh network namespace")
    })
}

/// The wasm-bindgen tests of `core` and `web-dashboard`, in headless Chromium through Debian's chromedriver.
fn browser_tests() -> anyhow::Result<()> {
    for krate in ["core", "web-dashboard"] {
        let mut wasm_pack = Command::new("wasm-pack");
        wasm_pack
            .args([
                "test",
                "--headless",
                "--chrome",
                "--chromedriver",
                "/usr/bin/chromedriver",
                krate,
            ])
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env("WASM_BINDGEN_TEST_TIMEOUT", "60");
        run_command(&mut wasm_pack)?;
    }
    Ok(())
}

/// Loads the built `dist/` in headless Chromium and checks that the wasm app rendered (a green trunk build
/// proves nothing: a broken wasm-opt yields a page that loads and renders nothing).
fn dashboard_renders() -> anyhow::Result<()> {
    let addr = crate::serve::spawn(PathBuf::from("dist"), "127.0.0.1:0")?;
    let profile = std::env::temp_dir().join(format!("herald-chromium-{}", std::process::id()));
    let mut chromium = Command::new("chromium");
    chromium
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("http://{addr}/"));
    let out = chromium.output().context("start chromium")?;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    let rendered = dom.contains(r#"data-testid="app-title""#)
        && dom.contains(r#"data-testid="connection-state""#);
    if !rendered {
        bail!("the dashboard did not render in headless Chromium; DOM was:\n{dom}");
    }
    eprintln!("test: the built dashboard renders in headless Chromium");
    Ok(())
}
