//! `cargo xtask test` runs every check and test; `cargo xtask ci` first installs and fetches everything, then
//! runs `test` inside a fresh network namespace with only loopback up, so no test traffic can leave the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::process::{cargo, exec, in_fresh_netns, output, run_command};
use crate::setup::nightly_present;

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

/// Seconds each fuzz target runs when nightly and cargo-fuzz are present (`HERALD_FUZZ_SECONDS`).
const DEFAULT_FUZZ_SECONDS: u32 = 10;

pub fn run() -> anyhow::Result<()> {
    let cargo = cargo();
    exec(&cargo, ["fmt", "--all", "--check"])?;
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
    )?;
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
    )?;
    // The end-to-end tests run the real binaries and serve the built dashboard: build both first.
    exec(&cargo, ["build", "--workspace", "--bins"])?;
    crate::web::build()?;
    dashboard_renders()?;
    exec(&cargo, ["test", "--workspace"])?;
    fuzz()?;
    browser_tests()?;
    eprintln!("test: all passed");
    Ok(())
}

pub fn ci() -> anyhow::Result<()> {
    crate::setup::run()?;
    // Everything that needs the registries happens here, before the network namespace.
    exec(&cargo(), ["fetch"])?;
    if fuzzing_available() {
        exec(&cargo(), ["fetch", "--manifest-path", "fuzz/Cargo.toml"])?;
    }
    let xtask = std::env::current_exe().context("path of xtask")?;
    let mut unshare = in_fresh_netns(&xtask);
    unshare.arg("test").env("CARGO_NET_OFFLINE", "true");
    run_command(&mut unshare).context("the test suite, inside a fresh network namespace")
}

fn fuzzing_available() -> bool {
    Path::new("fuzz/Cargo.toml").exists()
        && nightly_present()
        && output(&cargo(), &["fuzz", "--version"]).is_some()
}

/// Runs each cargo-fuzz target briefly when nightly is present; the decoders' proptests over arbitrary bytes
/// cover the same ground everywhere else.
fn fuzz() -> anyhow::Result<()> {
    if !fuzzing_available() {
        eprintln!("test: nightly or cargo-fuzz missing, skipping fuzz runs (property tests cover the decoders)");
        return Ok(());
    }
    let seconds = std::env::var("HERALD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_FUZZ_SECONDS);
    let targets = output(&cargo(), &["fuzz", "list", "--fuzz-dir", "fuzz"]).unwrap_or_default();
    for target in targets.lines().map(str::trim).filter(|t| !t.is_empty()) {
        let max_time = format!("-max_total_time={seconds}");
        exec(
            "rustup",
            [
                "run",
                "nightly",
                "cargo",
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                target,
                "--",
                &max_time,
            ],
        )?;
    }
    Ok(())
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
