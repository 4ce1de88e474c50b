//! Helpers for Herald's end-to-end tests (the tests themselves are under `tests/`):
//!
//! - [`binary`]: the built `herald` executables;
//! - [`Lan`]: a LAN of network namespaces (198.51.100.0/24) joined by a bridge that lives in its own "switch"
//!   namespace, so nothing touches the namespace the tests run in; removed on drop;
//! - [`Running`]: a `herald` process whose `--json` lines are read as bridge events (or a counterpart's JSON
//!   lines, [`Lan::counterpart`], or plain lines, [`Running::start_lines`]), killed on drop;
//! - [`counterpart`]: the independent Python stand-ins for the old tools, under `tests/counterparts/`;
//! - [`ws::BridgeClient`]: a WebSocket client of a node's bridge, connected from inside a host's namespace;
//! - [`browser`]: headless Chromium through chromedriver, and waiting for what a page shows;
//! - [`avahi::Avahi`]: a real avahi-daemon (with its private D-Bus) on one host of a [`Lan`];
//! - [`sites`]: several LANs and a WAN between them (the sites tests: gateways through NATS).

pub mod avahi;
pub mod browser;
pub mod sites;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use herald_core::bridge::BridgeEvent;

/// How long a test waits for an event before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Debian's Python, which the counterparts run with (a pyenv `python3` may shadow it on `PATH`).
pub const PYTHON: &str = "/usr/bin/python3";

/// Path of an independent counterpart of an old tool, `tests/counterparts/SCRIPT` (hein receiver and
/// transmitter, pythonConnect peer, Twisted hub client and service, DynIP sender and server): small
/// standard-library Python written from `LEGACY-WIRE.md`, never from the old tools' code nor from Herald's.
pub fn counterpart(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("counterparts")
        .join(script)
}

/// Path of a workspace binary built for the tests (`herald`, `herald-bench`), next to the test executable.
pub fn binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test executable path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs a command to completion; panics with its output if it fails.
pub fn sh(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A temporary directory for one test, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name includes `name`.
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "herald-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The path of `name` inside it, as a string (for command lines).
    pub fn join(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Moves the calling thread into the network namespace at `path` (`/var/run/netns/NAME`); other threads stay
/// where they are.
pub fn enter_netns(path: &std::path::Path) {
    let namespace = std::fs::File::open(path).expect("open the host's namespace");
    // SAFETY: setns on a valid namespace fd affects only the calling thread.
    let joined = unsafe {
        libc::setns(
            std::os::fd::AsRawFd::as_raw_fd(&namespace),
            libc::CLONE_NEWNET,
        )
    };
    assert_eq!(
        joined,
        0,
        "setns into {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The counters of a node whose bridge listens on `127.0.0.1:PORT` inside a host, read from its `/metrics`
/// with Python run there by `command_in(program, args)` (Prometheus names: `legacy.hein.refused` is
/// `herald_legacy_hein_refused`).
pub fn metrics(
    command_in: impl Fn(&str, &[&str]) -> Command,
    port: u16,
) -> std::collections::BTreeMap<String, u64> {
    const FETCH: &str = "import sys, urllib.request\nprint(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())";
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out = command_in(PYTHON, &["-c", FETCH, &url])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "GET {url}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// `node --name NAME --interface eth0 --heartbeat 200 --json EXTRA...`: a test host's node, printing events.
pub fn node_args<'a>(name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "node",
        "--name",
        name,
        "--interface",
        "eth0",
        "--heartbeat",
        "200",
        "--json",
    ];
    args.extend_from_slice(extra);
    args
}

/// A LAN of hosts, each a network namespace with `eth0` at `198.51.100.(10 + i)`, all on one bridge.
pub struct Lan {
    prefix: String,
    hosts: usize,
    state_dir: PathBuf,
}

impl Lan {
    /// Creates `hosts` hosts. Needs root (CI runs the suite as root inside its own namespace).
    pub fn new(hosts: usize) -> Lan {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        assert!(
            Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0")),
            "multi-host tests create network namespaces and need root: run them with `cargo xtask ci`"
        );
        let prefix = format!(
            "hr{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let state_dir = std::env::temp_dir().join(format!("herald-{prefix}"));
        let lan = Lan {
            prefix,
            hosts,
            state_dir,
        };
        let switch = lan.switch();
        sh("ip", &["netns", "add", &switch]);
        sh("ip", &["-n", &switch, "link", "set", "lo", "up"]);
        sh(
            "ip",
            &[
                "-n",
                &switch,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        );
        sh("ip", &["-n", &switch, "link", "set", "br0", "up"]);
        for i in 1..=hosts {
            let host = lan.host(i);
            let port = lan.port(i);
            sh("ip", &["netns", "add", &host]);
            sh("ip", &["-n", &host, "link", "set", "lo", "up"]);
            sh(
                "ip",
                &[
                    "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &host,
                ],
            );
            sh(
                "ip",
                &["-n", &switch, "link", "set", &port, "master", "br0", "up"],
            );
            sh(
                "ip",
                &[
                    "-n",
                    &host,
                    "addr",
                    "add",
                    &format!("{}/24", Lan::ip(i)),
                    "dev",
                    "eth0",
                ],
            );
            sh("ip", &["-n", &host, "link", "set", "eth0", "up"]);
        }
        lan
    }

    /// Opens a TCP connection to `addr` from inside host `i`'s namespace (the socket is made by a thread that
    /// joined the namespace; it works from any thread afterwards). `None` if the connection is refused.
    pub fn connect_tcp(&self, i: usize, addr: &str) -> Option<std::net::TcpStream> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter(i);
                    std::net::TcpStream::connect(addr).ok()
                })
                .join()
                .expect("the connecting thread does not panic")
        })
    }

    /// Moves the calling thread into host `i`'s network namespace, for sockets a test makes there itself (a
    /// packet capture, a link made with the library). Other threads stay where they are; call it on a thread
    /// of the test's own.
    pub fn enter(&self, i: usize) {
        enter_netns(std::path::Path::new(&format!(
            "/var/run/netns/{}",
            self.host(i)
        )));
    }

    /// Moves host `i` from its address to `new_ip` (in the /24), as a DHCP renewal with a new lease does: the old
    /// address goes, then the new one comes.
    pub fn readdress(&self, i: usize, new_ip: &str) {
        self.ip_in(
            i,
            &["addr", "del", &format!("{}/24", Lan::ip(i)), "dev", "eth0"],
        );
        self.ip_in(i, &["addr", "add", &format!("{new_ip}/24"), "dev", "eth0"]);
    }

    /// `herald node --name NAME --interface eth0 --heartbeat 200 --json EXTRA...` on host `i`.
    pub fn node(&self, i: usize, name: &str, extra: &[&str]) -> Running {
        self.spawn(i, &node_args(name, extra))
    }

    /// The address of host `i` (1-based).
    pub fn ip(i: usize) -> String {
        format!("198.51.100.{}", 10 + i)
    }

    /// Runs `herald ARGS...` on host `i`, reading its stdout as JSON events.
    pub fn spawn(&self, i: usize, args: &[&str]) -> Running {
        Running::start(self.command(i, args))
    }

    /// `herald publish TOPIC -` on host `i`, fed one message per stdin line ([`Running::feed`]), starting once
    /// it knows `subscribers` subscribers (waiting up to 15 s).
    pub fn publisher(&self, i: usize, topic: &str, subscribers: usize) -> Running {
        let n = subscribers.to_string();
        self.spawn_fed(
            i,
            &[
                "publish",
                topic,
                "-",
                "--interface",
                "eth0",
                "--subscribers",
                &n,
                "--wait",
                "15",
            ],
        )
    }

    /// The counters of the node on host `i` whose bridge listens on `127.0.0.1:PORT` inside that host, read from
    /// its `/metrics` (Prometheus names: `legacy.hein.refused` is `herald_legacy_hein_refused`).
    pub fn metrics(&self, i: usize, port: u16) -> std::collections::BTreeMap<String, u64> {
        metrics(|program, args| self.command_in(i, program, args), port)
    }

    /// Runs the counterpart `script` (a file of `tests/counterparts/`, see [`counterpart`]) with Debian's
    /// Python on host `i`, reading its JSON lines.
    pub fn counterpart(&self, i: usize, script: &str, args: &[&str]) -> Running<serde_json::Value> {
        let path = counterpart(script);
        let mut full = vec![path.to_str().expect("a UTF-8 path")];
        full.extend_from_slice(args);
        Running::start_json(self.command_in(i, PYTHON, &full))
    }

    /// Runs `herald ARGS...` on host `i` with its stdin open for [`Running::feed`].
    pub fn spawn_fed(&self, i: usize, args: &[&str]) -> Running {
        let mut command = self.command(i, args);
        command.stdin(Stdio::piped());
        Running::start(command)
    }

    /// Runs `herald ARGS...` on host `i` to completion.
    pub fn run(&self, i: usize, args: &[&str]) -> Output {
        self.command(i, args).output().expect("run herald")
    }

    /// Unplugs (`false`) or plugs back (`true`) host `i`'s cable at the switch.
    pub fn plug(&self, i: usize, plugged: bool) {
        sh(
            "ip",
            &[
                "-n",
                &self.switch(),
                "link",
                "set",
                &self.port(i),
                if plugged { "up" } else { "down" },
            ],
        );
    }

    /// Makes the switch drop multicast, as Wi-Fi with IGMP snooping, container bridges and VPNs do: no port
    /// floods multicast any more (`bridge link set ... mcast_flood off`; snooping is off, so every multicast
    /// frame is "unknown" and would otherwise be flooded). Unicast, ARP and broadcast still pass.
    pub fn drop_multicast(&self) {
        for i in 1..=self.hosts {
            sh(
                "bridge",
                &[
                    "-n",
                    &self.switch(),
                    "link",
                    "set",
                    "dev",
                    &self.port(i),
                    "mcast_flood",
                    "off",
                ],
            );
        }
    }

    /// Adds a second network between hosts `i` and `j`: a direct cable (`eth1` on both) with `ip_i`/`ip_j`
    /// (`/24`, say in 203.0.113.0/24), beside the switch.
    pub fn cable(&self, i: usize, j: usize, ip_i: &str, ip_j: &str) {
        self.ip_in(
            i,
            &[
                "link",
                "add",
                "eth1",
                "type",
                "veth",
                "peer",
                "name",
                "eth1",
                "netns",
                &self.host(j),
            ],
        );
        for (host, ip) in [(i, ip_i), (j, ip_j)] {
            self.ip_in(host, &["addr", "add", &format!("{ip}/24"), "dev", "eth1"]);
            self.ip_in(host, &["link", "set", "eth1", "up"]);
        }
    }

    /// Runs `ip ARGS...` inside host `i`.
    pub fn ip_in(&self, i: usize, args: &[&str]) {
        let host = self.host(i);
        let mut full: Vec<&str> = vec!["-n", &host];
        full.extend_from_slice(args);
        sh("ip", &full);
    }

    /// A command running `program ARGS...` inside host `i` (e.g. an independent sender in Python).
    pub fn command_in(&self, i: usize, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.host(i), program])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn command(&self, i: usize, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.host(i)])
            .arg(binary("herald"))
            .args(args)
            .env("XDG_STATE_HOME", &self.state_dir)
            .stdin(Stdio::null());
        command
    }

    fn host(&self, i: usize) -> String {
        format!("{}h{i}", self.prefix)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }

    fn port(&self, i: usize) -> String {
        format!("p{i}")
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let hosts = (1..=self.hosts).map(|i| self.host(i));
        tear_down(hosts.chain([self.switch()]), &self.state_dir);
    }
}

/// Deletes the network namespaces `namespaces` (their links go with them) and the hosts' state directory, as
/// far as each can be: the end of a test (or a panicking one) must not fail on what is already gone.
pub(crate) fn tear_down(namespaces: impl IntoIterator<Item = String>, state_dir: &std::path::Path) {
    for ns in namespaces {
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    }
    let _ = std::fs::remove_dir_all(state_dir);
}

/// What a running process prints, one per stdout line; lines that do not parse are skipped.
pub trait OutputLine: Sized + Send + 'static {
    /// The line's value, if it is one.
    fn parse(line: &str) -> Option<Self>;
}

impl OutputLine for BridgeEvent {
    fn parse(line: &str) -> Option<Self> {
        BridgeEvent::from_json(line).ok()
    }
}

impl OutputLine for serde_json::Value {
    fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }
}

/// Every line as it is (what an interactive interpreter prints).
impl OutputLine for String {
    fn parse(line: &str) -> Option<Self> {
        Some(line.to_owned())
    }
}

/// A running process (`herald`, or a counterpart printing JSON lines); killed (if still running) when dropped.
pub struct Running<E: OutputLine = BridgeEvent> {
    child: Child,
    input: Option<std::process::ChildStdin>,
    events: Receiver<E>,
    /// Events received but not yet matched by a [`Running::wait_for`], oldest first.
    pending: std::cell::RefCell<Vec<E>>,
}

impl Running {
    /// Starts `command` (a `herald ... --json` process), reading its stdout lines as bridge events.
    pub fn start(command: Command) -> Running {
        Running::reading(command)
    }
}

impl Running<serde_json::Value> {
    /// Starts `command`, reading its stdout lines as JSON values (a counterpart's events).
    pub fn start_json(command: Command) -> Running<serde_json::Value> {
        Running::reading(command)
    }
}

impl Running<String> {
    /// Starts `command`, reading its stdout lines as they are (start it with a piped stdin to
    /// [`Running::feed`] it, e.g. lines typed into `python -i`).
    pub fn start_lines(command: Command) -> Running<String> {
        Running::reading(command)
    }
}

impl<E: OutputLine> Running<E> {
    fn reading(mut command: Command) -> Running<E> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the process");
        let stdout = child.stdout.take().expect("piped stdout");
        let input = child.stdin.take();
        // Unbounded: the process never waits on a test that reads it later (tests bound what they make it print).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(event) = E::parse(&line) {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            }
        });
        Running {
            child,
            input,
            events: rx,
            pending: Default::default(),
        }
    }

    /// Takes the oldest event matching `wanted`, waiting up to [`PATIENCE`] for it. Events that do not match
    /// stay pending for later waits, so the order in which a test waits does not matter.
    pub fn wait_for(&self, what: &str, wanted: impl Fn(&E) -> bool) -> E {
        self.wait_for_within(PATIENCE, what, wanted)
    }

    /// [`Running::wait_for`] with another patience than [`PATIENCE`] (for what takes a set time, such as
    /// records that expire).
    pub fn wait_for_within(
        &self,
        patience: Duration,
        what: &str,
        wanted: impl Fn(&E) -> bool,
    ) -> E {
        let already = self.pending.borrow().iter().position(&wanted);
        if let Some(at) = already {
            return self.pending.borrow_mut().remove(at);
        }
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if wanted(&event) => return event,
                Ok(event) => self.pending.borrow_mut().push(event),
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {patience:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the process exited before {what}"),
            }
        }
    }

    /// Writes `line` and a newline to the process's stdin (started with [`Lan::spawn_fed`]).
    pub fn feed(&mut self, line: &str) {
        use std::io::Write;
        let input = self.input.as_mut().expect("started with spawn_fed");
        writeln!(input, "{line}").expect("write to herald's stdin");
    }

    /// Closes the process's stdin (end of input) and waits for it to exit; its exit status.
    pub fn finish_input(&mut self) -> std::process::ExitStatus {
        drop(self.input.take());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for herald") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "herald did not exit after its input ended"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Takes the oldest event matching `wanted` if one has arrived; never waits.
    pub fn try_take(&self, wanted: impl Fn(&E) -> bool) -> Option<E> {
        while let Ok(event) = self.events.try_recv() {
            self.pending.borrow_mut().push(event);
        }
        let at = self.pending.borrow().iter().position(wanted)?;
        Some(self.pending.borrow_mut().remove(at))
    }

    /// Kills the process at once (SIGKILL: no leave beacon).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl<E: OutputLine> Drop for Running<E> {
    fn drop(&mut self) {
        self.kill();
    }
}
