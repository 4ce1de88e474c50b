//! Child processes of a run: this binary in a hidden role (a subscriber, the echo server) and `nats-server`.
//! Each is killed (by its own pid) and reaped when its handle drops, and is told by the kernel to die with
//! this process should it end abruptly, so no run leaves anything behind. Also the one clock that every
//! process of a run reads alike.

use std::io::{BufRead, BufReader, Lines};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A child process, killed and reaped when dropped.
pub struct Child {
    inner: std::process::Child,
}

impl Child {
    /// Starts `command`, tied to this process's life (see [`die_with_parent`]).
    fn spawn(mut command: Command) -> anyhow::Result<Self> {
        die_with_parent(&mut command);
        let program = command.get_program().to_string_lossy().into_owned();
        let inner = command
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        Ok(Child { inner })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.inner.kill();
        let _ = self.inner.wait();
    }
}

/// Asks the kernel to kill the child when the thread that started it ends (here always the main thread, so:
/// when this process ends), even by SIGKILL.
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours; nothing else runs in the closure.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts this binary with `args`; its stdout comes back as lines.
pub fn spawn_role(args: &[&str]) -> anyhow::Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = Child::spawn(command)?;
    let stdout = child.inner.stdout.take().context("child stdout")?;
    Ok((child, BufReader::new(stdout).lines()))
}

/// Starts this binary with `args` and waits for it to print `ready`.
pub fn spawn_ready(args: &[&str]) -> anyhow::Result<Child> {
    let (child, mut lines) = spawn_role(args)?;
    match lines.next() {
        Some(Ok(line)) if line == "ready" => Ok(child),
        other => bail!("the {} process did not start: {other:?}", args[0]),
    }
}

/// CLOCK_MONOTONIC in nanoseconds: a clock that every process on the machine reads alike, so a subscriber's
/// "last delivery" and the publisher's "first publish" can be subtracted.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Bytes that one client connection may have waiting in the server: far above a run's volume, so the
/// server never cuts a subscriber off as a slow consumer.
const NATS_MAX_PENDING: u64 = 1 << 30;

/// A `nats-server` of this run alone, on a free 127.0.0.1 port; stopped, and its config file removed, when
/// dropped.
pub struct NatsServer {
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    config: PathBuf,
    child: Child,
}

impl NatsServer {
    /// Starts `$NATS_SERVER`, else `nats-server` from PATH, else `/usr/sbin/nats-server`, and waits until it
    /// accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config =
            std::env::temp_dir().join(format!("peers-bench-nats-{}.conf", std::process::id()));
        std::fs::write(
            &config,
            format!(
                "listen: \"127.0.0.1:{port}\"\nmax_pending: {NATS_MAX_PENDING}\nwrite_deadline: \"60s\"\n"
            ),
        )
        .with_context(|| format!("write {}", config.display()))?;
        let program = nats_server_program();
        let mut command = Command::new(&program);
        command
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = NatsServer {
            url: format!("nats://127.0.0.1:{port}"),
            config,
            child: Child::spawn(command)?,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.inner.try_wait()? {
                bail!("{} exited at start ({status})", program.display());
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!(
                    "{} not listening on port {port} after 10 s",
                    program.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

fn nats_server_program() -> PathBuf {
    if let Some(program) = std::env::var_os("NATS_SERVER") {
        return program.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| "/usr/sbin/nats-server".into())
}
