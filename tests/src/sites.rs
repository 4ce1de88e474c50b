//! Several LANs joined by a WAN, for the sites tests: [`Sites`] builds bridges in one "switch" namespace (a
//! bridge per network: multicast cannot cross between them) and hosts, each a namespace with one interface
//! per network it is on. The usual layout ([`Sites::two_sites`]): site A's LAN 198.51.100.0/24 and site B's
//! 203.0.113.0/24 with three hosts each, and a WAN 192.0.2.0/24 with a hub host; each site's first host (its
//! gateway) has a second interface, `wan0`, on the WAN. Processes are [`Running`]s like on a [`crate::Lan`];
//! everything is removed on drop.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub use crate::enter_netns;
use crate::{binary, sh, Running};

/// Networks and hosts in namespaces of their own. See the module doc.
pub struct Sites {
    prefix: String,
    hosts: Vec<String>,
    state_dir: std::path::PathBuf,
}

/// Site A's LAN.
pub const NET_A: &str = "198.51.100";
/// Site B's LAN.
pub const NET_B: &str = "203.0.113";
/// The WAN between the sites.
pub const NET_WAN: &str = "192.0.2";
/// The hub's address on the WAN.
pub const HUB: &str = "192.0.2.1";

impl Sites {
    /// Empty: no network, no host. Needs root.
    pub fn new() -> Sites {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "hs{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let sites = Sites {
            state_dir: std::env::temp_dir().join(format!("herald-{prefix}")),
            prefix,
            hosts: Vec::new(),
        };
        let switch = sites.switch();
        sh("ip", &["netns", "add", &switch]);
        sh("ip", &["-n", &switch, "link", "set", "lo", "up"]);
        sites
    }

    /// Two sites and a WAN: hosts `a1..a3` on [`NET_A`] (`.11`-`.13`), `b1..b3` on [`NET_B`], `hub` at
    /// [`HUB`], and `a1`, `b1` also on the WAN (`wan0` at `192.0.2.11` and `.12`).
    pub fn two_sites() -> Sites {
        let mut sites = Sites::new();
        for net in ["a", "b", "wan"] {
            sites.network(net);
        }
        for (site, net) in [("a", NET_A), ("b", NET_B)] {
            for i in 1..=3 {
                let host = format!("{site}{i}");
                sites.host(&host);
                sites.attach(&host, site, "eth0", &format!("{net}.{}", 10 + i));
            }
        }
        sites.host("hub");
        sites.attach("hub", "wan", "eth0", HUB);
        sites.attach("a1", "wan", "wan0", &format!("{NET_WAN}.11"));
        sites.attach("b1", "wan", "wan0", &format!("{NET_WAN}.12"));
        sites
    }

    /// A network: a bridge in the switch namespace (no multicast snooping: a plain hub of a switch).
    pub fn network(&mut self, net: &str) {
        let switch = self.switch();
        let bridge = format!("br{net}");
        sh(
            "ip",
            &[
                "-n",
                &switch,
                "link",
                "add",
                &bridge,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        );
        sh("ip", &["-n", &switch, "link", "set", &bridge, "up"]);
    }

    /// A host with only its loopback.
    pub fn host(&mut self, host: &str) {
        let ns = self.ns(host);
        sh("ip", &["netns", "add", &ns]);
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        self.hosts.push(host.to_owned());
    }

    /// Plugs `host` into network `net` as interface `ifname` with address `ip`/24.
    pub fn attach(&self, host: &str, net: &str, ifname: &str, ip: &str) {
        let switch = self.switch();
        let port = format!("{host}-{ifname}");
        sh(
            "ip",
            &[
                "-n",
                &switch,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                ifname,
                "netns",
                &self.ns(host),
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &switch,
                "link",
                "set",
                &port,
                "master",
                &format!("br{net}"),
                "up",
            ],
        );
        let ns = self.ns(host);
        sh(
            "ip",
            &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", ifname],
        );
        sh("ip", &["-n", &ns, "link", "set", ifname, "up"]);
    }

    /// Moves `host`'s `eth0` from `old` to `new` (both in its /24).
    pub fn readdress(&self, host: &str, old: &str, new: &str) {
        let ns = self.ns(host);
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "del",
                &format!("{old}/24"),
                "dev",
                "eth0",
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{new}/24"),
                "dev",
                "eth0",
            ],
        );
    }

    /// `herald node --name NAME --interface eth0 --heartbeat 200 --json EXTRA...` on `host`.
    pub fn node(&self, host: &str, name: &str, extra: &[&str]) -> Running {
        Running::start(self.herald(host, &crate::node_args(name, extra)))
    }

    /// `herald ARGS...` on `host`, run to completion.
    pub fn run(&self, host: &str, args: &[&str]) -> std::process::Output {
        self.herald(host, args).output().expect("run herald")
    }

    /// `program ARGS...` inside `host`, started; killed on drop.
    pub fn spawn_in(&self, host: &str, program: &str, args: &[&str]) -> Running<serde_json::Value> {
        Running::start_json(self.command_in(host, program, args))
    }

    /// A command running `program ARGS...` inside `host`.
    pub fn command_in(&self, host: &str, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host), program])
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Counters of the node on `host` whose bridge listens on `127.0.0.1:PORT` there, from its `/metrics`.
    pub fn metrics(&self, host: &str, port: u16) -> std::collections::BTreeMap<String, u64> {
        crate::metrics(|program, args| self.command_in(host, program, args), port)
    }

    /// The file of `host`'s network namespace, for [`crate::enter_netns`] on a thread of the test's own.
    pub fn netns_path(&self, host: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/var/run/netns/{}", self.ns(host)))
    }

    fn herald(&self, host: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host)])
            .arg(binary("herald"))
            .args(args)
            .env("XDG_STATE_HOME", self.state_dir.join(host))
            .stdin(Stdio::null());
        command
    }

    fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }
}

impl Default for Sites {
    fn default() -> Self {
        Sites::new()
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        let hosts = self.hosts.iter().map(|host| self.ns(host));
        crate::tear_down(hosts.chain([self.switch()]), &self.state_dir);
    }
}
