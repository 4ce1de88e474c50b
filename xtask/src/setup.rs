//! `cargo xtask setup`: installs every tool the build and tests need, skipping those present at the right
//! version. Nothing here lets a tool download its own binaries: all come from crates.io, npm, PyPI or apt.

use std::path::Path;

use anyhow::{bail, Context};

use crate::process::{cargo, exec, output};
use crate::tools_dir;

/// trunk 0.22 needs a newer rustc than this machine's 1.95 (see ../shared/TOOLCHAIN.md).
pub const TRUNK_VERSION: &str = "0.21.14";
/// Debian's wasm-opt 108 breaks Leptos wasm; npm's binaryen 132 works.
pub const BINARYEN_VERSION: &str = "132";
/// Debian packages for browser and multi-host tests.
/// From Debian; `python3` runs the tests' independent senders (the old DynIP client's datagram, garbage) and,
/// with `python3-websockets`, an independent WebSocket client of the bridge; `avahi-daemon`, `avahi-utils` and
/// `dbus` are the real DNS-SD peer of the mDNS tests (each in a namespace host, with a private system bus);
/// `nats-server` (2.9) joins the sites tests' LANs.
const APT_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "iproute2",
    "python3",
    "python3-websockets",
    "avahi-daemon",
    "avahi-utils",
    "dbus",
    "nats-server",
];

/// Debian packages for `cargo xtask dist` and its tests: `dpkg-shlibdeps` (the package's dependencies),
/// `strip`, and `systemd-analyze` (to verify the unit files; it needs no running systemd).
const PACKAGING_PACKAGES: &[&str] = &["dpkg-dev", "binutils", "systemd"];

pub fn run() -> anyhow::Result<()> {
    wasm_target()?;
    apt_packages()?;
    packaging_tools()?;
    trunk()?;
    wasm_bindgen_cli()?;
    wasm_pack()?;
    wasm_opt();
    cargo_fuzz();
    crate::python::tools()?;
    eprintln!("setup: all tools present");
    Ok(())
}

/// What building the dashboard needs: the wasm target, trunk, wasm-bindgen-cli and (if npm is there)
/// wasm-opt.
pub fn dashboard_tools() -> anyhow::Result<()> {
    wasm_target()?;
    trunk()?;
    wasm_bindgen_cli()?;
    wasm_opt();
    Ok(())
}

/// What making and checking the Debian package needs (`dpkg-deb` comes with every Debian).
pub fn packaging_tools() -> anyhow::Result<()> {
    let present = output("dpkg-shlibdeps", &["--version"]).is_some()
        && output("strip", &["--version"]).is_some()
        && output("systemd-analyze", &["--version"]).is_some();
    if present {
        return Ok(());
    }
    apt_install(PACKAGING_PACKAGES)
}

fn wasm_target() -> anyhow::Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    exec("rustup", ["target", "add", "wasm32-unknown-unknown"])
}

fn apt_packages() -> anyhow::Result<()> {
    let present = Path::new("/usr/bin/chromium").exists()
        && Path::new("/usr/bin/chromedriver").exists()
        && output("ip", &["-V"]).is_some()
        && output("python3", &["--version"]).is_some()
        && output("/usr/bin/python3", &["-c", "import websockets"]).is_some()
        && Path::new("/usr/sbin/avahi-daemon").exists()
        && Path::new("/usr/bin/avahi-publish").exists()
        && Path::new("/usr/bin/dbus-daemon").exists()
        && output("nats-server", &["--version"]).is_some();
    if present {
        return Ok(());
    }
    apt_install(APT_PACKAGES)
}

/// `apt-get update`, then `apt-get install` of `packages` (through `sudo` when not root).
///
/// Some of these packages ship system services (`avahi-daemon`, `nats-server`, `dbus`) that Debian starts on
/// install; on a machine with systemd that would put an mDNS responder on its real interfaces. The tests run
/// their own copies inside network namespaces, so the install runs under a `policy-rc.d` that forbids
/// starting services (Debian's documented switch, honoured by `deb-systemd-invoke` and `invoke-rc.d`).
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let mut apt = Vec::new();
    if output("id", &["-u"]).as_deref() != Some("0") {
        apt.push("sudo");
    }
    let _no_service_starts = NoServiceStarts::install(apt.first().copied())?;
    apt.push("apt-get");
    let (program, prefix) = apt.split_first().expect("apt-get is there");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let mut update = std::process::Command::new(program);
    update.args(prefix).args(["update", "-qq"]).envs(env);
    crate::process::run_command(&mut update)?;
    let mut install = std::process::Command::new(program);
    install
        .args(prefix)
        .args(["install", "-y", "-qq"])
        .args(packages)
        .envs(env);
    crate::process::run_command(&mut install)
}

fn trunk() -> anyhow::Result<()> {
    if output("trunk", &["--version"]).as_deref() == Some(&format!("trunk {TRUNK_VERSION}")) {
        return Ok(());
    }
    exec(
        &cargo(),
        ["install", "--locked", "trunk", "--version", TRUNK_VERSION],
    )
}

/// The wasm-bindgen version Cargo.lock resolves: the CLI must match it exactly.
pub fn locked_wasm_bindgen_version() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(version.trim_matches('"').to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn wasm_bindgen_cli() -> anyhow::Result<()> {
    let version = locked_wasm_bindgen_version()?;
    if output("wasm-bindgen", &["--version"]).as_deref() == Some(&format!("wasm-bindgen {version}"))
    {
        return Ok(());
    }
    // Not --locked: its lock file wants a webpki-roots version the registry does not serve (TOOLCHAIN.md).
    exec(
        &cargo(),
        [
            "install",
            "--force",
            "wasm-bindgen-cli",
            "--version",
            &version,
        ],
    )
}

fn wasm_pack() -> anyhow::Result<()> {
    if output("wasm-pack", &["--version"]).is_some() {
        return Ok(());
    }
    exec(&cargo(), ["install", "--locked", "wasm-pack"])
}

/// The wasm-opt that set-up installs, if npm was there to install it.
pub fn wasm_opt_bin() -> Option<std::path::PathBuf> {
    let bin = tools_dir().join("node_modules/.bin/wasm-opt");
    let version = output(bin.to_str()?, &["--version"])?;
    version
        .contains(&format!("version {BINARYEN_VERSION}"))
        .then_some(bin)
}

/// Optional: without npm the dashboard is built without wasm-opt (bigger, still correct).
fn wasm_opt() {
    if wasm_opt_bin().is_some() {
        return;
    }
    if output("npm", &["--version"]).is_none() {
        eprintln!("setup: npm not found; the dashboard will be built without wasm-opt");
        return;
    }
    let dir = tools_dir();
    let installed = std::fs::create_dir_all(&dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            exec(
                "npm",
                [
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    dir.to_str().unwrap_or("."),
                    &format!("binaryen@{BINARYEN_VERSION}"),
                ],
            )
        });
    if let Err(err) = installed {
        eprintln!(
            "setup: wasm-opt not installed ({err:#}); the dashboard will be built without it"
        );
    }
}

/// True when a nightly toolchain is there (cargo-fuzz needs it); fuzzing is optional.
pub fn nightly_present() -> bool {
    output("rustup", &["run", "nightly", "rustc", "--version"]).is_some()
}

fn cargo_fuzz() {
    if !nightly_present() || output(&cargo(), &["fuzz", "--version"]).is_some() {
        return;
    }
    if let Err(err) = exec(&cargo(), ["install", "--locked", "cargo-fuzz"]) {
        eprintln!("setup: cargo-fuzz not installed ({err:#}); decoders are still covered by property tests");
    }
}

/// Debian's `policy-rc.d` denying every service start (exit 101) while it lives; removed on drop. Left alone
/// if the machine already has one (its owner decided).
struct NoServiceStarts {
    sudo: Option<&'static str>,
    placed: bool,
}

impl NoServiceStarts {
    const PATH: &'static str = "/usr/sbin/policy-rc.d";

    fn install(sudo: Option<&'static str>) -> anyhow::Result<NoServiceStarts> {
        if Path::new(Self::PATH).exists() {
            return Ok(NoServiceStarts {
                sudo,
                placed: false,
            });
        }
        let script = format!(
            "printf '#!/bin/sh\\n# herald xtask setup: no service starts during apt-get install\\nexit 101\\n' > {0} && chmod 755 {0}",
            Self::PATH
        );
        Self::shell(sudo, &script)?;
        Ok(NoServiceStarts { sudo, placed: true })
    }

    fn shell(sudo: Option<&str>, script: &str) -> anyhow::Result<()> {
        let mut command = match sudo {
            Some(sudo) => {
                let mut command = std::process::Command::new(sudo);
                command.arg("sh");
                command
            }
            None => std::process::Command::new("sh"),
        };
        command.args(["-c", script]);
        crate::process::run_command(&mut command)
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.placed {
            if let Err(error) = Self::shell(self.sudo, &format!("rm -f {}", Self::PATH)) {
                eprintln!("setup: could not remove {}: {error:#}", Self::PATH);
            }
        }
    }
}
