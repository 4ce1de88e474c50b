//! [`Avahi`]: a real avahi-daemon on one host of a [`Lan`], with its own private system D-Bus, mount and UTS
//! namespaces (its own `/run/dbus`, `/run/avahi-daemon` and host name), so daemons on several hosts and the
//! machine's own never meet; `avahi-publish` and `avahi-browse` run beside it. Stopped on drop, or killed
//! without a goodbye by [`Avahi::vanish`] (a device that is switched off). mDNS stays in the host's network
//! namespace.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Lan, PATIENCE};

/// Sets up the namespaces' runtime directories and D-Bus (printing its pid), then becomes avahi-daemon.
const SCRIPT: &str = "set -e
hostname \"$1\"
mkdir -p /run/dbus /run/avahi-daemon
mount -t tmpfs tmpfs /run/dbus
mount -t tmpfs tmpfs /run/avahi-daemon
dbus-daemon --system --fork --print-pid
exec avahi-daemon --no-rlimits --no-chroot";

/// avahi-daemon running on one host of a LAN.
pub struct Avahi {
    daemon: Child,
    dbus_pid: u32,
    _stdout: BufReader<ChildStdout>,
    /// True once the daemon was killed and reaped ([`Avahi::vanish`]).
    vanished: bool,
}

impl Avahi {
    /// Starts D-Bus and avahi-daemon on host `i` under the host name `hostname` (so `hostname.local`), and
    /// waits until avahi answers its clients.
    pub fn start(lan: &Lan, i: usize, hostname: &str) -> Avahi {
        let mut daemon = lan
            .command_in(
                i,
                "unshare",
                &[
                    "-m",
                    "-u",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    SCRIPT,
                    "avahi-host",
                    hostname,
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start avahi-daemon (is avahi-daemon installed? `cargo xtask setup`)");
        let mut stdout = BufReader::new(daemon.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read dbus-daemon's pid");
        let dbus_pid = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("dbus-daemon did not start: {line:?}"));
        let avahi = Avahi {
            daemon,
            dbus_pid,
            _stdout: stdout,
            vanished: false,
        };
        let deadline = Instant::now() + PATIENCE;
        while !avahi.run("avahi-browse", &["-apt"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "avahi-daemon did not come up within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        avahi
    }

    /// Kills avahi-daemon with SIGKILL: it sends no goodbye, so what it announced stays in other hosts' caches
    /// until its records expire.
    pub fn vanish(&mut self) {
        // SAFETY: kill(2) on a child this helper started and has not reaped.
        unsafe {
            libc::kill(self.daemon.id() as i32, libc::SIGKILL);
        }
        let _ = self.daemon.wait();
        self.vanished = true;
    }

    /// `program ARGS...` beside the daemon: in its network, mount (its D-Bus) and UTS namespaces.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.daemon.id().to_string(), "-n", "-m", "-u", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs `program ARGS...` beside the daemon to completion.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// `avahi-browse -rpt TYPE`'s resolved lines (`=;eth0;IPv4;NAME;TYPE;local;HOST;ADDR;PORT;TXT`), split.
    pub fn browse(&self, service_type: &str) -> Vec<Vec<String>> {
        let out = self.run("avahi-browse", &["-rpt", service_type]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| line.starts_with('='))
            .map(|line| line.split(';').map(str::to_owned).collect())
            .collect()
    }

    /// Polls [`Avahi::browse`] until `wanted` holds for what it shows, up to [`PATIENCE`].
    pub fn wait_browse(
        &self,
        service_type: &str,
        what: &str,
        wanted: impl Fn(&[Vec<String>]) -> bool,
    ) -> Vec<Vec<String>> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines = self.browse(service_type);
            if wanted(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "avahi-browse {service_type}: no {what} within {PATIENCE:?}; last: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Avahi {
    fn drop(&mut self) {
        // SAFETY: kill(2) on pids this helper started (the daemon only while it is not reaped).
        if !self.vanished {
            unsafe {
                libc::kill(self.daemon.id() as i32, libc::SIGTERM);
            }
            let _ = self.daemon.wait();
        }
        unsafe {
            libc::kill(self.dbus_pid as i32, libc::SIGTERM);
        }
    }
}
