//! A failing `cargo xtask` prints its error chain in a line or two, even where `RUST_BACKTRACE=1` is set;
//! the backtrace only with `-v` (or `RUST_LIB_BACKTRACE`).

use std::process::{Command, Output};

/// `xtask setup` with nothing on the PATH: `rustup` is missing, the first thing set-up needs.
fn setup_without_tools(extra: &[&str], env: &[(&str, &str)]) -> Output {
    let empty = std::env::temp_dir().join(format!("xtask-empty-path-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(extra)
        .arg("setup")
        .env("PATH", &empty)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    output
}

#[test]
fn a_missing_tool_is_one_line_without_a_backtrace() {
    let output = setup_without_tools(&[], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("rustup"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(stderr.lines().count() <= 3, "{stderr}");
}

#[test]
fn verbose_keeps_the_backtrace() {
    for (flags, env) in [
        (&["-v"][..], &[][..]),
        (&[][..], &[("RUST_LIB_BACKTRACE", "1")][..]),
    ] {
        let output = setup_without_tools(flags, env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("rustup"), "{stderr}");
        assert!(stderr.contains("backtrace"), "{flags:?} {env:?}: {stderr}");
    }
}
