//! `cargo xtask tidy`: house rules that a grep can check (../shared/STYLE.md). Also run by `cargo test` as a
//! `#[test]`, so breaking one fails the suite.
//!
//! - every non-test `.rs` file opens with a `//!` doc saying what it owns;
//! - no unbounded channels (every queue needs a bound and a stated policy);
//! - no `println!` in library code (only in `bin/`, `cli/`, `xtask/` and tests);
//! - no `utils.rs` grab-bags.

use std::path::{Path, PathBuf};

use anyhow::bail;

pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
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
                let printing_allowed = in_tests
                    || rel.starts_with("xtask/")
                    || rel.contains("/bin/")
                    || rel.contains("/cli/");
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
