//! `cargo xtask tidy`: house rules that a grep can check (../shared/STYLE.md). Also run by `cargo test` as a
//! `#[test]`, so breaking one fails the suite.
//!
//! - every non-test `.rs` file opens with a `//!` doc saying what it owns;
//! - no unbounded channels (every queue needs a bound and a stated policy);
//! - no `println!` in library code (only in `bin/`, `cli/`, `xtask/`, build scripts and tests);
//! - no `utils.rs` grab-bags;
//! - no import cycle among the node library's modules (see `modgraph`).
//!
//! `cargo xtask tidy --long-fns` also lists functions of more than [`LONG_FN`] lines (a reading aid, not a
//! rule: some are long for a reason).

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Functions longer than this many lines are listed by `--long-fns`.
pub const LONG_FN: usize = 80;

pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for cycle in crate::modgraph::cycles(&crate::modgraph::read(root)?) {
        problems.push(format!(
            "native-node/src: modules import each other in a circle: {}",
            cycle.join(" -> ")
        ));
    }
    for file in rust_files(root)? {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file)?;
        let in_tests = ["tests/", "benches/", "examples/", "fuzz/"]
            .iter()
            .any(|d| rel.starts_with(d) || rel.contains(&format!("/{d}")));
        if !in_tests && !text.starts_with("//!") {
            problems.push(format!(
                "{rel}: does not open with a //! doc saying what it owns"
            ));
        }
        if rel.ends_with("utils.rs") {
            problems.push(format!(
                "{rel}: no utils grab-bags; name the module after what it holds"
            ));
        }
        if rel != "xtask/src/tidy.rs" {
            for (n, line) in text.lines().enumerate() {
                if line.contains("unbounded_channel") || line.contains("mpsc::unbounded") {
                    problems.push(format!("{rel}:{}: unbounded channel", n + 1));
                }
                // Build scripts talk to cargo through their stdout (`cargo:rerun-if-changed=...`).
                let printing_allowed = in_tests
                    || rel.starts_with("xtask/")
                    || rel.contains("/bin/")
                    || rel.contains("/cli/")
                    || rel.ends_with("/build.rs");
                if !printing_allowed
                    && line.contains("println!(")
                    && !line.trim_start().starts_with("//")
                {
                    problems.push(format!(
                        "{rel}:{}: println! in library code (use tracing, or move it to the CLI)",
                        n + 1
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    eprintln!("tidy: ok");
    Ok(())
}

/// `cargo xtask tidy --long-fns`: every function over [`LONG_FN`] lines outside tests, longest first.
pub fn long_fns(root: &Path) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for file in rust_files(root)? {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("tests/") || rel.contains("/tests/") || rel.starts_with("fuzz/") {
            continue;
        }
        let text = std::fs::read_to_string(&file)?;
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let Some(name) = fn_name(line) else { continue };
            // The body ends at the first line back at the signature's indentation closing a brace.
            let indent = line.len() - line.trim_start().len();
            let end = lines[start + 1..].iter().position(|l| {
                l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}')
            });
            if let Some(end) = end {
                let length = end + 2;
                if length > LONG_FN {
                    found.push((length, format!("{rel}:{}", start + 1), name));
                }
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (length, place, name) in &found {
        println!("{length:>4} lines  {name}  ({place})");
    }
    eprintln!("tidy: {} functions over {LONG_FN} lines", found.len());
    Ok(())
}

/// The function a line declares, if it opens one with a body.
fn fn_name(line: &str) -> Option<String> {
    let code = line.trim_start();
    let at = code.find("fn ")?;
    let before = &code[..at];
    let modifiers_only = before.split_whitespace().all(|w| {
        matches!(
            w,
            "pub" | "pub(crate)" | "pub(super)" | "async" | "const" | "unsafe"
        )
    });
    if !modifiers_only || code.ends_with(';') {
        return None;
    }
    let name: String = code[at + 3..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | "dist" | "node_modules" | ".git")
                && !name.starts_with('.')
            {
                files.extend(rust_files(&path)?);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn house_rules_hold() {
        super::check(&crate::project_root()).unwrap();
    }
}
