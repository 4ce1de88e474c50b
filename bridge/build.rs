//! Build script: embeds a built dashboard in the bridge, each file with its gzip and brotli forms, compressed
//! here once so that serving costs nothing.
//!
//! Which dashboard: the directory named by `HERALD_DASHBOARD_DIST` (trunk's `dist/`, with an `index.html`; a
//! relative path is taken from the workspace root). `cargo xtask dist` and `cargo xtask run` set it. Without
//! it nothing is embedded and the bridge serves a page that says how to get a binary with the dashboard
//! inside, so a plain `cargo build` needs no wasm toolchain. No path is written into the binary: only the
//! files' bytes (`include_bytes!` of copies in `OUT_DIR`).
//!
//! The generated `embedded_dashboard.rs` defines `EMBEDDED: &[Asset]` (see `src/dashboard.rs`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The variable naming the built dashboard to embed.
const DIST_VAR: &str = "HERALD_DASHBOARD_DIST";

/// Brotli's best quality, and the window browsers accept (2^22 bytes).
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

fn main() {
    println!("cargo:rerun-if-env-changed={DIST_VAR}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let code = match std::env::var_os(DIST_VAR).filter(|v| !v.is_empty()) {
        None => "/// Nothing embedded: this binary was built without `HERALD_DASHBOARD_DIST`.\n\
                 static EMBEDDED: &[Asset] = &[];\n"
            .to_owned(),
        Some(dist) => {
            let manifest =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            let dist = manifest.join("..").join(dist);
            embed(&dist, &out.join("dashboard"))
        }
    };
    std::fs::write(out.join("embedded_dashboard.rs"), code).expect("write embedded_dashboard.rs");
}

/// Copies every file of `dist` into `out` with its compressed forms; returns the Rust source listing them.
fn embed(dist: &Path, out: &Path) -> String {
    if !dist.join("index.html").is_file() {
        panic!(
            "{DIST_VAR}={}: no index.html there; build the dashboard first (`cargo xtask web`)",
            dist.display()
        );
    }
    println!("cargo:rerun-if-changed={}", dist.display());
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("create the embedded dashboard's directory");
    let mut files = Vec::new();
    list_files(dist, dist, &mut files);
    files.sort();
    let mut code =
        String::from("/// The dashboard embedded at build time.\nstatic EMBEDDED: &[Asset] = &[\n");
    for (n, rel) in files.iter().enumerate() {
        let bytes = std::fs::read(dist.join(rel)).expect("read a dashboard file");
        let stored = |suffix: &str, data: &[u8]| -> String {
            let name = format!("{n}{suffix}");
            std::fs::write(out.join(&name), data).expect("write an embedded file");
            format!("include_bytes!(concat!(env!(\"OUT_DIR\"), \"/dashboard/{name}\"))")
        };
        let identity = stored("", &bytes);
        let smaller = |data: Vec<u8>, suffix: &str| -> String {
            if data.len() < bytes.len() {
                format!("Some({})", stored(suffix, &data))
            } else {
                "None".to_owned()
            }
        };
        let gzip = smaller(gzip(&bytes), ".gz");
        let br = smaller(brotli(&bytes), ".br");
        let _ = writeln!(
            code,
            "    Asset {{ path: {rel:?}, etag: \"{:016x}\", identity: {identity}, gzip: {gzip}, br: {br} }},",
            fnv1a(&bytes)
        );
    }
    code.push_str("];\n");
    code
}

/// Every file under `dir`, as paths relative to `root` with `/` separators.
fn list_files(root: &Path, dir: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read the dashboard directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            list_files(root, &path, files);
        } else if path.is_file() {
            let rel = path.strip_prefix(root).expect("under the root");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_str().expect("UTF-8 file names").to_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // The header's time is 0, so the same input gives the same bytes.
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer =
            brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        writer.write_all(bytes).expect("brotli into memory");
    }
    out
}

/// FNV-1a, 64 bits: the entity tag of a file (a change of content changes it; no security needed).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
