//! `cargo xtask dist`: what a LAN host installs. Sets up what it needs, builds the dashboard (trunk) and a
//! release `herald` with the dashboard embedded, then writes into `<repo>/target/dist/` (whatever
//! `CARGO_TARGET_DIR` says): `herald_<version>_<arch>.deb` (see `deb`) and
//! `herald-<version>-<target>.tar.gz` (the binary, the units, the default config and the docs).
//!
//! [`release_herald`] is also how `cargo xtask run` gets its binary, so both share one release build.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::process::{cargo, output, run_command};
use crate::project_root;

/// The variable the bridge's build script reads: the built dashboard to embed.
pub const DASHBOARD_VAR: &str = "HERALD_DASHBOARD_DIST";

/// What `dist` wrote.
#[derive(Debug)]
pub struct Outputs {
    /// The Debian package.
    pub deb: PathBuf,
    /// The tarball.
    pub tarball: PathBuf,
    /// The binary as packaged (stripped), with its size.
    pub binary_bytes: u64,
}

pub fn run() -> anyhow::Result<()> {
    crate::setup::dashboard_tools()?;
    crate::setup::packaging_tools()?;
    crate::web::build()?;
    let outputs = build()?;
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "dist: herald with its dashboard inside is {} (stripped)",
        megabytes(outputs.binary_bytes)
    );
    eprintln!(
        "dist: {} ({})",
        outputs.deb.display(),
        megabytes(size(&outputs.deb))
    );
    eprintln!(
        "dist: {} ({})",
        outputs.tarball.display(),
        megabytes(size(&outputs.tarball))
    );
    Ok(())
}

/// The folder `dist` writes to: `<repo>/target/dist`.
pub fn out_dir() -> PathBuf {
    project_root().join("target").join("dist")
}

/// Builds the release `herald` with the dashboard (already built in `dist/`) inside, then the package and
/// the tarball. Tools must be there (`setup`).
pub fn build() -> anyhow::Result<Outputs> {
    let herald = release_herald()?;
    let version = herald_version(&herald)?;
    let out = out_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    let work = out.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // Strip a copy: symbols are most of the binary, and a package ships without them.
    let stripped = work.join("herald");
    std::fs::copy(&herald, &stripped).context("copy the release herald")?;
    if let Err(err) = run_command(Command::new("strip").arg("--strip-unneeded").arg(&stripped)) {
        eprintln!("dist: not stripped ({err:#}); the package will be bigger");
    }
    let binary_bytes = std::fs::metadata(&stripped)?.len();
    let deb = crate::deb::build(&stripped, &version, &work, &out)?;
    let tarball = tarball(&stripped, &version, &work, &out)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(Outputs {
        deb,
        tarball,
        binary_bytes,
    })
}

/// `cargo build --release --bin herald` with the built dashboard (`<repo>/dist`) embedded; the path of the
/// binary, wherever the target directory is.
pub fn release_herald() -> anyhow::Result<PathBuf> {
    let built = project_root().join("dist");
    if !built.join("index.html").is_file() {
        bail!(
            "the dashboard is not built in {} (`cargo xtask web`)",
            built.display()
        );
    }
    // trunk rewrites every file of dist/ at each build; the bridge's build script reruns when a file it
    // embeds is newer. Embedding a copy that changes only where the bytes do spares a release relink per run.
    let dashboard = project_root().join("target").join("embedded-dashboard");
    sync_dir(&built, &dashboard)
        .with_context(|| format!("copy {} to {}", built.display(), dashboard.display()))?;
    let mut build = Command::new(cargo());
    build
        .args([
            "build",
            "--release",
            "-p",
            "herald-node",
            "--bin",
            "herald",
            "--message-format=json-render-diagnostics",
        ])
        .env(DASHBOARD_VAR, &dashboard)
        .stdout(Stdio::piped());
    eprintln!(
        "$ {DASHBOARD_VAR}={} cargo build --release -p herald-node --bin herald",
        dashboard.display()
    );
    let mut child = build.spawn().context("start cargo build")?;
    let mut messages = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut messages)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("the release build of herald failed ({status})");
    }
    messages
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .filter_map(|line| json_string_field(line, "executable"))
        .map(PathBuf::from)
        .find(|path| path.file_name().is_some_and(|n| n == "herald"))
        .context("cargo reported no herald executable")
}

/// Makes `to` hold exactly the files of `from`, writing only those whose bytes differ (so the others keep
/// their times) and removing the rest.
fn sync_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    let mut wanted = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let name = path.file_name().expect("an entry has a name").to_owned();
        let target = to.join(&name);
        if path.is_dir() {
            sync_dir(&path, &target)?;
        } else {
            let bytes = std::fs::read(&path)?;
            if std::fs::read(&target).ok().as_deref() != Some(&bytes[..]) {
                let _ = std::fs::remove_dir_all(&target);
                std::fs::write(&target, &bytes)?;
            }
        }
        wanted.insert(name);
    }
    for entry in std::fs::read_dir(to)? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| wanted.contains(n)) {
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

/// The version `herald --version` prints (`herald 0.1.0` → `0.1.0`).
pub fn herald_version(herald: &Path) -> anyhow::Result<String> {
    let text = output(herald.to_str().context("a UTF-8 path")?, &["--version"])
        .context("herald --version")?;
    text.strip_prefix("herald ")
        .map(str::to_owned)
        .with_context(|| format!("unexpected `herald --version`: {text}"))
}

/// The value of a string field in one line of cargo's JSON messages (`"name":"value"`), unescaped.
fn json_string_field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The host's target triple (`x86_64-unknown-linux-gnu`): the binary is built for it.
fn host_target() -> anyhow::Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    output(&rustc, &["-vV"])
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        })
        .context("rustc -vV names no host")
}

/// `herald-<version>-<target>.tar.gz`: one folder with the binary, the units, the default config and the
/// docs; owned by root, files in name order (the same inputs give the same archive).
fn tarball(herald: &Path, version: &str, work: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let name = format!("herald-{version}-{}", host_target()?);
    let top = work.join(&name);
    let root = project_root();
    std::fs::create_dir_all(top.join("systemd"))?;
    std::fs::copy(herald, top.join("herald"))?;
    for doc in ["README.md", "CHANGELOG.md"] {
        std::fs::copy(root.join(doc), top.join(doc))?;
    }
    std::fs::copy(root.join("packaging/herald.toml"), top.join("herald.toml"))?;
    for unit in crate::deb::UNITS {
        std::fs::copy(
            root.join("packaging").join(unit),
            top.join("systemd").join(unit),
        )?;
    }
    let tarball = out.join(format!("{name}.tar.gz"));
    let mut tar = Command::new("tar");
    tar.args([
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        &format!("--mtime=@{}", source_date()),
        "-czf",
    ])
    .arg(&tarball)
    .arg("-C")
    .arg(work)
    .arg(&name);
    run_command(&mut tar)?;
    Ok(tarball)
}

/// The time the tarball gives its files: `SOURCE_DATE_EPOCH`, else the last commit's, else 0.
fn source_date() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| output("git", &["log", "-1", "--format=%ct"]))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// `12.3 MB` (10^6 bytes) and the exact byte count.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB, {bytes} bytes", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synced_copy_changes_only_where_the_bytes_do() {
        let base = std::env::temp_dir().join(format!("xtask-sync-{}", std::process::id()));
        let (from, to) = (base.join("from"), base.join("to"));
        std::fs::create_dir_all(from.join("snippets")).unwrap();
        std::fs::write(from.join("index.html"), "one").unwrap();
        std::fs::write(from.join("snippets/a.js"), "a").unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(to.join("stale.wasm"), "old").unwrap();
        sync_dir(&from, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("snippets/a.js")).unwrap(),
            "a"
        );
        assert!(!to.join("stale.wasm").exists());
        let before = std::fs::metadata(to.join("index.html"))
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(from.join("index.html"), "one").unwrap();
        std::fs::write(from.join("snippets/a.js"), "b").unwrap();
        sync_dir(&from, &to).unwrap();
        let after = std::fs::metadata(to.join("index.html"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after, "same bytes: untouched");
        assert_eq!(
            std::fs::read_to_string(to.join("snippets/a.js")).unwrap(),
            "b"
        );
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn the_executable_is_read_from_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"herald"},"executable":"/t/release/herald","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some("/t/release/herald")
        );
        let escaped = r#"{"executable":"/a \"b\"\\c"}"#;
        assert_eq!(
            json_string_field(escaped, "executable").as_deref(),
            Some(r#"/a "b"\c"#)
        );
        assert_eq!(
            json_string_field(r#"{"executable":null}"#, "executable"),
            None
        );
    }
}
