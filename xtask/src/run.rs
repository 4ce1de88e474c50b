//! `cargo xtask run`: Herald's main job from a fresh machine: set up, build the dashboard, and run a node with
//! the bridge and the IP log, the dashboard on http://127.0.0.1:8080.
//!
//! The node is pinned to loopback (`--interface 127.0.0.1`), so the demo is safe anywhere. Arguments after
//! `run` go to `herald node` and replace the defaults they name: `cargo xtask run --interface eth0` puts the
//! node on the LAN.

use std::process::Command;

use crate::process::run_command;

pub fn run(extra: &[String]) -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::web::build()?;
    let state = std::env::temp_dir().join("herald-run");
    std::fs::create_dir_all(&state)?;
    let db = state.join("iplog.db").to_string_lossy().into_owned();
    let defaults: [(&str, &[&str]); 5] = [
        ("--interface", &["127.0.0.1"]),
        ("--bridge", &["127.0.0.1:8080"]),
        ("--dynip", &["127.0.0.1:28630"]),
        ("--db", &[db.as_str()]),
        ("--dashboard-dir", &["dist"]),
    ];
    let mut args: Vec<String> = [
        "run",
        "--release",
        "-p",
        "herald-node",
        "--bin",
        "herald",
        "--",
        "node",
    ]
    .map(str::to_owned)
    .to_vec();
    for (flag, values) in defaults {
        if !extra
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        {
            args.push(flag.to_owned());
            args.extend(values.iter().map(|v| (*v).to_owned()));
        }
    }
    args.extend(extra.iter().cloned());
    eprintln!("run: the dashboard will be on http://127.0.0.1:8080/ (Ctrl-C to stop)");
    run_command(Command::new(env!("CARGO")).args(&args))
}
