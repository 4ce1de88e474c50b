//! The Debian package, made with `dpkg-deb` from a staged tree (no packaging tool to install):
//!
//! - `/usr/bin/herald` (the release build with the dashboard inside, stripped);
//! - `/lib/systemd/system/herald.service` and `herald-dynip.service` (from `packaging/`);
//! - `/etc/herald/herald.toml`, the commented default config (a conffile: an upgrade keeps local edits);
//! - `/usr/share/doc/herald/` (README, changelog, copyright);
//! - the maintainer scripts of `packaging/debian/` (the `herald` system user, created on configure and
//!   removed on purge) and `control`, its `Depends` computed by `dpkg-shlibdeps`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::process::{output, run_command};
use crate::project_root;

/// The unit files, in `packaging/` and in the package's `/lib/systemd/system/`.
pub const UNITS: [&str; 2] = ["herald.service", "herald-dynip.service"];
/// Maintainer scripts, in `packaging/debian/`.
const SCRIPTS: [&str; 3] = ["postinst", "prerm", "postrm"];
/// Files the administrator edits; dpkg keeps their changes across upgrades.
const CONFFILES: [&str; 1] = ["/etc/herald/herald.toml"];
/// Needed beyond the shared libraries: `useradd`, `groupadd`, `userdel` for the maintainer scripts.
const EXTRA_DEPENDS: &str = "passwd";

/// Stages the package under `work` and writes `herald_<version>_<arch>.deb` into `out`.
pub fn build(herald: &Path, version: &str, work: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let arch = output("dpkg", &["--print-architecture"]).context("dpkg --print-architecture")?;
    let root = project_root();
    let packaging = root.join("packaging");
    let stage = work.join("deb");
    let _ = std::fs::remove_dir_all(&stage);
    install(herald, &stage.join("usr/bin/herald"), 0o755)?;
    for unit in UNITS {
        install(
            &packaging.join(unit),
            &stage.join("lib/systemd/system").join(unit),
            0o644,
        )?;
    }
    install(
        &packaging.join("herald.toml"),
        &stage.join("etc/herald/herald.toml"),
        0o644,
    )?;
    let doc = stage.join("usr/share/doc/herald");
    install(
        &packaging.join("debian/copyright"),
        &doc.join("copyright"),
        0o644,
    )?;
    for (file, name) in [
        ("README.md", "README.md.gz"),
        ("CHANGELOG.md", "changelog.gz"),
    ] {
        gzip_into(&root.join(file), &doc.join(name))?;
    }
    let control = stage.join("DEBIAN");
    for script in SCRIPTS {
        install(
            &packaging.join("debian").join(script),
            &control.join(script),
            0o755,
        )?;
    }
    write(&control.join("conffiles"), &(CONFFILES.join("\n") + "\n"))?;
    write(&control.join("md5sums"), &md5sums(&stage)?)?;
    let depends = shared_library_depends(herald, work)?;
    write(
        &control.join("control"),
        &control_file(version, &arch, &depends, installed_kib(&stage)?),
    )?;
    folders_0755(&stage)?;
    let deb = out.join(format!("herald_{version}_{arch}.deb"));
    run_command(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    Ok(deb)
}

/// The `control` file.
fn control_file(version: &str, arch: &str, depends: &str, installed_kib: u64) -> String {
    format!(
        "Package: herald
Version: {version}
Architecture: {arch}
Maintainer: Herald maintainers <herald-lan@users.noreply.github.com>
Installed-Size: {installed_kib}
Depends: {depends}, {EXTRA_DEPENDS}
Section: net
Priority: optional
Homepage: https://github.com/herald-lan/herald
Description: LAN discovery and messaging node with a browser dashboard
 Herald lets programs on a local network find each other and talk: nodes
 announce themselves by multicast and advertise services, publish and
 subscribe to topics, send direct messages and ask questions; an IP log keeps
 every host's address history. The dashboard is built into the binary and
 served on loopback by the node's bridge.
 .
 The package installs herald.service (a node configured by
 /etc/herald/herald.toml, running as the herald system user, its state in
 /var/lib/herald) and herald-dynip.service (the IP log alone). Neither starts
 until enabled: systemctl enable --now herald
"
    )
}

/// `Depends` for the binary's shared libraries (`libc6 (>= 2.34), ...`), from `dpkg-shlibdeps`.
fn shared_library_depends(herald: &Path, work: &Path) -> anyhow::Result<String> {
    // dpkg-shlibdeps wants to run in a source tree: a minimal one will do.
    let tree = work.join("shlibdeps");
    write(
        &tree.join("debian/control"),
        "Source: herald\n\nPackage: herald\nArchitecture: any\n",
    )?;
    let out = Command::new("dpkg-shlibdeps")
        .arg("-O")
        .arg(herald)
        .current_dir(&tree)
        .output()
        .context(
            "could not start dpkg-shlibdeps (Debian's dpkg-dev; `cargo xtask setup` installs it)",
        )?;
    if !out.status.success() {
        bail!(
            "dpkg-shlibdeps failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends=").map(str::to_owned))
        .context("dpkg-shlibdeps printed no shlibs:Depends")
}

/// `md5sums`: every file shipped outside `/etc` (conffiles are checked by dpkg on their own).
fn md5sums(stage: &Path) -> anyhow::Result<String> {
    let mut files = Vec::new();
    list(stage, stage, &mut files)?;
    let mut sums = String::new();
    for rel in files {
        if rel.starts_with("DEBIAN/") || rel.starts_with("etc/") {
            continue;
        }
        let sum = output(
            "md5sum",
            &[stage.join(&rel).to_str().context("UTF-8 path")?],
        )
        .context("md5sum")?;
        let digest = sum.split_whitespace().next().unwrap_or_default();
        sums.push_str(&format!("{digest}  {rel}\n"));
    }
    Ok(sums)
}

/// The installed size in KiB, as dpkg counts it (each file rounded up).
fn installed_kib(stage: &Path) -> anyhow::Result<u64> {
    let mut files = Vec::new();
    list(stage, stage, &mut files)?;
    let mut kib = 0;
    for rel in files.iter().filter(|rel| !rel.starts_with("DEBIAN/")) {
        kib += std::fs::metadata(stage.join(rel))?.len().div_ceil(1024);
    }
    Ok(kib)
}

/// Every file under `dir`, relative to `root`, sorted.
fn list(root: &Path, dir: &Path, files: &mut Vec<String>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            list(root, &path, files)?;
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Copies `from` to `to` (creating folders, mode 0755) with `mode`.
fn install(from: &Path, to: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    create_parent(to)?;
    std::fs::copy(from, to).with_context(|| format!("copy {}", from.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    create_parent(path)?;
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    let parent = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))
}

/// Every folder under `dir` (and `dir`) 0755, as dpkg expects whatever the umask was.
fn folders_0755(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            folders_0755(&path)?;
        }
    }
    Ok(())
}

/// `gzip -9n`: compressed without a name or time, as Debian ships documentation.
fn gzip_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    create_parent(to)?;
    let out = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(from)
        .output()
        .context("gzip")?;
    if !out.status.success() {
        bail!("gzip {} failed", from.display());
    }
    write_bytes(to, &out.stdout)
}

fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}
