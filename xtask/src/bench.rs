//! `cargo xtask bench [ARGS...]`: builds `herald-bench` in release and runs it (default: `discovery`) inside a
//! fresh network namespace with only loopback up, so no benchmark traffic can leave the machine.

use std::process::Command;

use crate::process::{cargo, exec, output, run_command};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    exec(
        &cargo(),
        [
            "build",
            "--release",
            "-p",
            "herald-node",
            "--bin",
            "herald-bench",
        ],
    )?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let bench = std::path::Path::new(&target).join("release/herald-bench");
    let args: Vec<String> = if args.is_empty() {
        vec!["discovery".to_owned()]
    } else {
        args.to_vec()
    };
    let mut unshare = Command::new("unshare");
    unshare.arg("--net");
    if output("id", &["-u"]).as_deref() != Some("0") {
        unshare.arg("--map-root-user");
    }
    unshare
        .args(["--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(bench)
        .args(args);
    run_command(&mut unshare)
}
