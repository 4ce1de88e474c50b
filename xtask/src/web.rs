//! `cargo xtask web`: builds the dashboard with trunk (release, offline) into `dist/` and reports the size of
//! its `.wasm`, raw and gzipped, and of the wasm and JS together, gzipped (the figure the size goal is about).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::process::{output, run_command};
use crate::setup::wasm_opt_bin;

/// Trunk's target when wasm-opt is missing: `index.html` with wasm-opt switched off (git-ignored).
const NO_OPT_HTML: &str = "index.no-wasm-opt.html";

pub fn build() -> anyhow::Result<()> {
    let mut trunk = Command::new("trunk");
    trunk.env("PATH", path_with_tools());
    trunk.args(["build", "--release", "--offline=true"]);
    if wasm_opt_bin().is_none() {
        eprintln!(
            "web: wasm-opt {} not found, building without it",
            crate::setup::BINARYEN_VERSION
        );
        let html = std::fs::read_to_string("index.html")?
            .replace(r#"data-wasm-opt="z""#, r#"data-wasm-opt="0""#);
        std::fs::write(NO_OPT_HTML, html)?;
        trunk.arg(NO_OPT_HTML);
    }
    run_command(&mut trunk)?;
    let wasm = built_file(Path::new("dist"), "wasm")?;
    let js = built_file(Path::new("dist"), "js")?;
    let raw = std::fs::metadata(&wasm)?.len();
    let gzipped = gzipped_len(&wasm);
    let together = gzipped.zip(gzipped_len(&js)).map(|(w, j)| w + j);
    let kib = |bytes: Option<u64>| {
        bytes.map_or("? KiB".to_owned(), |b| {
            format!("{:.1} KiB", b as f64 / 1024.0)
        })
    };
    eprintln!(
        "web: {} is {} KB raw, {} gzipped; with its JS {} gzipped",
        wasm.display(),
        raw / 1024,
        kib(gzipped),
        kib(together)
    );
    Ok(())
}

/// PATH with set-up's npm tools (wasm-opt) first, so trunk never looks for them on the web.
pub fn path_with_tools() -> OsString {
    let mut dirs = vec![crate::tools_dir().join("node_modules/.bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries have no separators")
}

/// The file trunk built in `dist` with extension `ext` (`wasm`, `js`).
fn built_file(dist: &Path, ext: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dist)
        .with_context(|| format!("read {}", dist.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|e| e == ext))
        .with_context(|| format!("trunk produced no .{ext}"))
}

fn gzipped_len(path: &Path) -> Option<u64> {
    let command = format!("gzip -9 -c '{}' | wc -c", path.display());
    output("sh", &["-c", &command])?.parse().ok()
}
