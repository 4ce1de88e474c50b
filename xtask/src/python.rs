//! `cargo xtask python`: Herald for Python, the `herald-lan` wheel. Installs what it needs (a venv in the
//! build's target directory with maturin and pytest from PyPI; Debian's `python3-venv` and `python3-dev` when
//! no Python can make a venv), then builds the wheel with maturin into `<repo>/target/wheels/` (whatever
//! `CARGO_TARGET_DIR` says; the build itself goes to the target directory as usual).
//!
//! [`test`] is `cargo xtask test`'s step (alone: `cargo xtask python --test`): a wheel built with the dev
//! profile (quicker to build; the tests check behaviour, not speed) into `<target dir>/python-test-wheel/`,
//! installed into the venv, then the pytest suite in `python/tests/` against the `herald` binary built by the
//! earlier steps, then the tests across namespace hosts (`tests/tests/python_hosts.rs`, `#[ignore]`d for a
//! plain `cargo test`) with that venv's Python. It fails loudly when it cannot run: missing tools (run `cargo
//! xtask setup`, which needs PyPI), a missing `herald` binary, or pytest collecting nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::process::{exec, output, run_command};
use crate::project_root;

/// maturin from PyPI (PyO3 0.30 needs maturin >= 1.9.4, which sets `PYO3_BUILD_EXTENSION_MODULE`).
pub const MATURIN_VERSION: &str = "1.16.0";
/// pytest from PyPI, for the package's tests.
pub const PYTEST_VERSION: &str = "9.2.0";
/// pyzmq from PyPI, what `cargo xtask bench python` compares Herald from Python with.
pub const PYZMQ_VERSION: &str = "27.3.0";

/// Debian packages for a Python that can make a venv (`python3-dev`: libpython for linking the crate
/// outside maturin, in `cargo test --workspace`).
const APT_PACKAGES: &[&str] = &["python3", "python3-venv", "python3-dev"];

/// Which cargo profile the wheel is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Optimised: what users install.
    Release,
    /// Quick to build: what the tests install.
    Dev,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let profile = match args.first().map(String::as_str) {
        None => Profile::Release,
        Some("--dev") => Profile::Dev,
        Some("--test") => return test(),
        Some(other) => {
            bail!("unknown argument {other:?} (usage: cargo xtask python [--dev | --test])")
        }
    };
    tools()?;
    let wheel = build_wheel(profile, &wheels_dir())?;
    let shown = wheel.strip_prefix(project_root()).unwrap_or(&wheel);
    let size = std::fs::metadata(&wheel).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "python: {} ({})",
        shown.display(),
        crate::dist::megabytes(size)
    );
    eprintln!("python: install it with `pip install target/wheels/herald_lan-*.whl`");
    Ok(())
}

/// The venv with maturin and pytest: `<target dir>/python-venv` (`CARGO_TARGET_DIR` honoured, so a CI cache
/// outside the checkout keeps it).
pub fn venv() -> PathBuf {
    target_dir().join("python-venv")
}

/// The build's target directory, absolute.
fn target_dir() -> PathBuf {
    let target = crate::bench::target_dir();
    if target.is_absolute() {
        target
    } else {
        project_root().join(target)
    }
}

fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// Where the wheel goes: `<repo>/target/wheels`.
pub fn wheels_dir() -> PathBuf {
    project_root().join("target").join("wheels")
}

/// Installs what building and testing the wheel needs, skipping what is there (idempotent).
pub fn tools() -> anyhow::Result<()> {
    let python = venv_bin("python");
    if output(path_str(&python)?, &["-c", "import sys"]).is_none() {
        let system = system_python()?;
        let _ = std::fs::remove_dir_all(venv());
        run_command(Command::new(&system).args(["-m", "venv"]).arg(venv()))
            .context("create the venv for maturin and pytest")?;
    }
    let maturin = venv_bin("maturin");
    if output(path_str(&maturin)?, &["--version"]).as_deref()
        != Some(&format!("maturin {MATURIN_VERSION}"))
    {
        pip_install(&format!("maturin=={MATURIN_VERSION}"))?;
    }
    let pytest = output(path_str(&python)?, &["-m", "pytest", "--version"]);
    if !pytest.is_some_and(|v| v.contains(PYTEST_VERSION)) {
        pip_install(&format!("pytest=={PYTEST_VERSION}"))?;
    }
    Ok(())
}

fn pip_install(package: &str) -> anyhow::Result<()> {
    let python = venv_bin("python");
    exec(
        path_str(&python)?,
        [
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ],
    )
    .with_context(|| format!("install {package} from PyPI into {}", venv().display()))
}

/// A Python 3 that can make a venv with pip: `python3` on the PATH, else Debian's (installed if missing).
fn system_python() -> anyhow::Result<String> {
    let can_make_venvs =
        |python: &str| output(python, &["-c", "import venv, ensurepip, sys"]).is_some();
    for python in ["python3", "/usr/bin/python3"] {
        if can_make_venvs(python) {
            return Ok(python.to_owned());
        }
    }
    crate::setup::apt_install(APT_PACKAGES)?;
    if can_make_venvs("/usr/bin/python3") {
        return Ok("/usr/bin/python3".to_owned());
    }
    bail!("no Python 3 here can make a venv, even after installing {APT_PACKAGES:?}")
}

/// Builds the wheel with maturin into `out` (older `herald_lan` wheels there are removed first, so
/// `herald_lan-*.whl` names one file); returns its path. Tools must be there ([`tools`]).
pub fn build_wheel(profile: Profile, out: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for old in herald_wheels(out)? {
        std::fs::remove_file(&old).with_context(|| format!("remove {}", old.display()))?;
    }
    let mut maturin = Command::new(venv_bin("maturin"));
    maturin
        .args(["build", "--manifest-path", "python/Cargo.toml", "--out"])
        .arg(out)
        .arg("--interpreter")
        .arg(venv_bin("python"));
    match profile {
        Profile::Release => maturin.args(["--release", "--strip"]),
        Profile::Dev => maturin.args(["--profile", "dev"]),
    };
    run_command(&mut maturin).context("build the herald-lan wheel")?;
    let mut wheels = herald_wheels(out)?;
    match (wheels.pop(), wheels.is_empty()) {
        (Some(wheel), true) => Ok(wheel),
        (None, _) => bail!("maturin wrote no herald_lan wheel into {}", out.display()),
        (Some(_), false) => bail!(
            "maturin wrote several herald_lan wheels into {}",
            out.display()
        ),
    }
}

/// The `herald_lan-*.whl` files in `dir`.
fn herald_wheels(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("herald_lan-") && name.ends_with(".whl") {
            found.push(path);
        }
    }
    Ok(found)
}

/// `cargo xtask test`'s step: a dev wheel, installed into the venv, and the pytest suite against the
/// `herald` binary of the debug build.
pub fn test() -> anyhow::Result<()> {
    tools().context(
        "the Python tools are missing and cannot be installed here: run `cargo xtask setup` first (it needs PyPI)",
    )?;
    let herald = target_dir().join("debug").join("herald");
    if !herald.exists() {
        bail!(
            "{} is not built: the Python tests run the CLI (`cargo build --workspace --bins`)",
            herald.display()
        );
    }
    // Not into target/wheels: a user's release wheel there stays as it is.
    let wheel = build_wheel(Profile::Dev, &target_dir().join("python-test-wheel"))?;
    install_wheel(&wheel)?;
    let mut pytest = Command::new(venv_bin("python"));
    pytest
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-ra",
            "python/tests",
        ])
        .env("HERALD_BIN", &herald)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let line = crate::process::describe(&pytest);
    eprintln!("$ {line}");
    let status = pytest
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    match status.code() {
        Some(0) => {}
        // pytest's "no tests ran": a suite that tests nothing must not pass.
        Some(5) => bail!("pytest collected no tests in python/tests"),
        _ => bail!("`{line}` failed ({status})"),
    }
    // Across namespace hosts, with the wheel just installed (ignored by a plain `cargo test`).
    let mut hosts = Command::new(crate::process::cargo());
    hosts
        .args([
            "test",
            "-p",
            "herald-tests",
            "--test",
            "python_hosts",
            "--",
            "--ignored",
        ])
        .env("HERALD_PYTHON", venv_bin("python"));
    run_command(&mut hosts).context("the Python tests across namespace hosts")
}

/// `cargo xtask bench python [ARGS...]`: the release wheel and pyzmq installed into the venv, then
/// `python/bench/compare.py ARGS...` (Herald from Python and pyzmq alternating in one run, median of 3 by
/// default, one table) inside a fresh network namespace with only loopback up.
pub fn bench(args: &[String]) -> anyhow::Result<()> {
    tools()?;
    let python = venv_bin("python");
    let zmq = output(
        path_str(&python)?,
        &["-c", "import zmq; print(zmq.__version__)"],
    );
    if zmq.as_deref() != Some(PYZMQ_VERSION) {
        pip_install(&format!("pyzmq=={PYZMQ_VERSION}"))?;
    }
    let wheel = build_wheel(Profile::Release, &wheels_dir())?;
    install_wheel(&wheel)?;
    let mut compare = crate::process::in_fresh_netns(&python);
    compare
        .arg("python/bench/compare.py")
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_command(&mut compare).context("the Python benchmark")
}

/// Installs `wheel` into the venv, replacing the installed one.
fn install_wheel(wheel: &Path) -> anyhow::Result<()> {
    let mut install = Command::new(venv_bin("python"));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
            "--no-deps",
            "--force-reinstall",
        ])
        .arg(wheel);
    run_command(&mut install).context("install the wheel into the venv")
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}
