//! The `herald` binary as a user runs it: a separate process, its exit status and output.

use std::process::Command;

#[test]
fn herald_prints_its_version() {
    let herald = herald_tests::binary("herald");
    let output = Command::new(&herald)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {herald:?}: {e}"));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("herald {}", herald_core::SOFTWARE_VERSION)
    );
}
