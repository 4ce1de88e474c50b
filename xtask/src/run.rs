//! `cargo xtask run`: Herald's main job from a fresh machine: set up, build the dashboard and a release
//! `herald` with it inside, then run a node with the bridge and the IP log (the dashboard on
//! http://127.0.0.1:8080) and `herald demo` beside it, so the dashboard shows peers, readings, answers and
//! address moves at once.
//!
//! The node is pinned to loopback (`--interface 127.0.0.1`), so the demo is safe anywhere. Arguments after
//! `run` go to `herald node` and replace the defaults they name: `cargo xtask run --interface eth0` puts the
//! node on the LAN (and leaves the demo out: it lives on loopback only). `--no-demo` runs the node alone.

use std::process::{Child, Command};

use anyhow::Context;

/// The flag that leaves the demo out.
const NO_DEMO: &str = "--no-demo";

pub fn run(extra: &[String]) -> anyhow::Result<()> {
    let wants_demo = !extra.iter().any(|a| a == NO_DEMO);
    let extra: Vec<String> = extra.iter().filter(|a| *a != NO_DEMO).cloned().collect();
    crate::setup::run()?;
    crate::web::build()?;
    let herald = crate::dist::release_herald()?;
    let state = std::env::temp_dir().join("herald-run");
    std::fs::create_dir_all(&state)?;
    let state_dir = state.to_string_lossy().into_owned();
    let db = state.join("iplog.db").to_string_lossy().into_owned();
    let on_loopback =
        flag_value(&extra, "--interface").is_none_or(|i| i == "lo" || i.starts_with("127."));
    let demo = wants_demo && on_loopback;
    if wants_demo && !on_loopback {
        eprintln!("run: the demo lives on loopback only; with another --interface it is left out");
    }
    let mut defaults: Vec<(&str, Vec<String>)> = vec![
        ("--interface", vec!["127.0.0.1".into()]),
        ("--bridge", vec!["127.0.0.1:8080".into()]),
        ("--dynip", vec!["127.0.0.1:28630".into()]),
        ("--db", vec![db]),
        ("--state-dir", vec![state_dir.clone()]),
    ];
    if demo {
        // The dashboard's feed starts with the node's own subscriptions: every topic, the demo's readings.
        defaults.push(("--subscribe", vec!["*".into()]));
    }
    let mut args = vec!["node".to_owned()];
    for (flag, values) in defaults {
        if flag_value(&extra, flag).is_none() && !extra.iter().any(|a| a == flag) {
            args.push(flag.to_owned());
            args.extend(values);
        }
    }
    args.extend(extra.iter().cloned());
    let mut node = spawn(Command::new(&herald).args(&args))?;
    let mut demo = if demo {
        let mut command = Command::new(&herald);
        command.args(["demo", "--interface", "127.0.0.1"]);
        command.args([
            "--state-dir",
            &flag_value(&extra, "--state-dir").unwrap_or(state_dir),
        ]);
        // The demo joins the node's group, with its key.
        for flag in ["--group", "--key-file"] {
            if let Some(value) = flag_value(&extra, flag) {
                command.args([flag, &value]);
            }
        }
        Some(spawn(&mut command)?)
    } else {
        None
    };
    let bridge = flag_value(&extra, "--bridge").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    eprintln!("run: the dashboard will be on http://{bridge}/ (Ctrl-C to stop)");
    let status = node.wait().context("wait for herald node")?;
    if let Some(demo) = demo.as_mut() {
        stop(demo);
    }
    if !status.success() {
        anyhow::bail!("herald node exited: {status}");
    }
    Ok(())
}

/// The value given to `flag`, as `--flag VALUE` or `--flag=VALUE`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            args.get(i + 1).filter(|v| !v.starts_with("--")).cloned()
        } else {
            arg.strip_prefix(&format!("{flag}=")).map(str::to_owned)
        }
    })
}

fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    let line = crate::process::describe(command);
    eprintln!("$ {line}");
    command
        .spawn()
        .with_context(|| format!("could not start `{line}`"))
}

/// Asks a child to stop (SIGTERM: nodes leave gracefully) and waits for it.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_in_both_forms() {
        let args: Vec<String> = [
            "--interface",
            "eth0",
            "--group=239.255.72.68:7300",
            "--bridge",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(flag_value(&args, "--interface").as_deref(), Some("eth0"));
        assert_eq!(
            flag_value(&args, "--group").as_deref(),
            Some("239.255.72.68:7300")
        );
        assert_eq!(flag_value(&args, "--bridge"), None);
        assert_eq!(flag_value(&args, "--key-file"), None);
    }
}
