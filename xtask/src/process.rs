//! Running external commands: echo them, run them, and turn a failure into an error naming the step.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Runs `program args...`, inheriting stdio; fails with the command line if it exits non-zero.
pub fn exec<I, S>(program: &str, args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    run_command(&mut command)
}

/// Runs a prepared command, inheriting stdio; fails with the command line if it exits non-zero.
pub fn run_command(command: &mut Command) -> anyhow::Result<()> {
    let line = describe(command);
    eprintln!("$ {line}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command quietly and returns its trimmed stdout, or `None` if it cannot start or fails.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A command that runs `program args...` inside a fresh network namespace with only loopback up, so nothing
/// it sends can leave the machine (`--map-root-user` when not root).
pub fn in_fresh_netns(program: &std::path::Path) -> Command {
    let mut unshare = Command::new("unshare");
    unshare.arg("--net");
    if output("id", &["-u"]).as_deref() != Some("0") {
        unshare.arg("--map-root-user");
    }
    unshare
        .args(["--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(program);
    unshare
}

/// The cargo that runs us (the `CARGO` variable), so nested runs use the same toolchain.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The command line, as echoed before running it.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
