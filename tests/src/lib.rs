//! Helpers for Herald's end-to-end tests: finding the built binaries. The tests themselves are under `tests/`.

use std::path::PathBuf;

/// Path of a workspace binary built for the tests (`herald`, `herald-bench`), next to the test executable.
pub fn binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}
