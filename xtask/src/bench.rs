//! `cargo xtask bench [ARGS...]`: builds `herald-bench` in release and runs it (default: `discovery`) inside a
//! fresh network namespace with only loopback up, so no benchmark traffic can leave the machine.

use crate::process::{cargo, exec, in_fresh_netns, run_command};

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
    let mut unshare = in_fresh_netns(&bench);
    unshare.args(args);
    run_command(&mut unshare)
}
