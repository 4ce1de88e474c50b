//! DNS-SD both ways (issue 18 §2), against a real Avahi: two hosts in network namespaces (198.51.100.0/24),
//! avahi-daemon (with its own D-Bus) on host 1, `herald node` on host 2. A service `avahi-publish` announces on
//! host 1 becomes a peer of kind `mdns`, with its TXT records, in `herald peers` and `herald lookup` on host 2,
//! and goes when avahi-publish ends; a node's `--mdns` announcements show in `avahi-browse -rpt` on host 1 and
//! are withdrawn when it leaves. A device that vanishes without a goodbye leaves when its records expire. And a
//! node on two networks sends mDNS on its `--interface` only. Needs root; mDNS never leaves the namespaces.

use std::process::Stdio;
use std::time::Duration;

use herald_core::bridge::{BridgeEvent, PeerInfo};
use herald_core::PeerKind;
use herald_tests::avahi::Avahi;
use herald_tests::Lan;

fn printer_joined(e: &BridgeEvent) -> bool {
    matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "printer")
}

#[test]
fn avahi_services_become_peers_and_herald_services_show_in_avahi() {
    let lan = Lan::new(2);
    let avahi = Avahi::start(&lan, 1, "avahi-h1");

    // Browse: a printer announced through Avahi on host 1 is a peer of kind mdns via the node on host 2.
    let browser = lan.node(2, "browser", &["--mdns-browse", "_ipp._tcp"]);
    // A second browser, beside Avahi on host 1 (mdns-sd shares UDP 5353 with it).
    let other = lan.node(1, "other-browser", &["--mdns-browse", "_ipp._tcp"]);
    let mut publish = avahi
        .command(
            "avahi-publish",
            &["-s", "printer", "_ipp._tcp", "631", "rp=printers/x"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run avahi-publish");
    let BridgeEvent::PeerJoined { peer, .. } =
        browser.wait_for("the printer joining", printer_joined)
    else {
        unreachable!()
    };
    let printer_addr = format!("{}:631", Lan::ip(1));
    assert_eq!(peer.kind, PeerKind::Mdns);
    let browsers = [id_of(&lan, "browser"), id_of(&lan, "other-browser")];
    assert!(
        peer.via.is_some_and(|via| browsers.contains(&via)),
        "{peer:?}"
    );
    assert_eq!(peer.addr.to_string(), Lan::ip(1));
    assert_eq!(peer.services["ipp"].to_string(), printer_addr);
    assert_eq!(peer.txt["rp"], "printers/x", "{peer:?}");
    // The same printer is the same peer (node id) whichever node browses it.
    let BridgeEvent::PeerJoined { peer: seen, .. } =
        other.wait_for("the printer joining at the other browser", printer_joined)
    else {
        unreachable!()
    };
    assert_eq!(seen.node_id, peer.node_id);

    // A one-shot on host 2 sees it too (the browsing nodes beacon for it), once, and finds its service.
    let peers = lan.run(2, &["peers", "--interface", "eth0", "--json"]);
    assert!(peers.status.success(), "{peers:?}");
    let listed: Vec<PeerInfo> = String::from_utf8_lossy(&peers.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a peer per line"))
        .collect();
    let printer = listed
        .iter()
        .find(|p| p.name == "printer")
        .unwrap_or_else(|| panic!("no printer in herald peers: {listed:?}"));
    assert_eq!(printer.kind, PeerKind::Mdns);
    // Its TXT records crossed to the other host in the browsing nodes' beacons.
    assert_eq!(
        printer.txt,
        [("rp".to_owned(), "printers/x".to_owned())].into(),
        "{printer:?}"
    );
    assert_eq!(
        listed.iter().filter(|p| p.kind == PeerKind::Mdns).count(),
        1
    );
    let plain = lan.run(2, &["peers", "--interface", "eth0"]);
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("printer ") && l.ends_with("txt: rp=printers/x")),
        "{plain}"
    );
    let lookup = lan.run(2, &["lookup", "ipp", "--interface", "eth0"]);
    assert!(lookup.status.success(), "{lookup:?}");
    assert_eq!(String::from_utf8_lossy(&lookup.stdout).trim(), printer_addr);

    // avahi-publish ends: Avahi withdraws the service, and the peer leaves.
    // SAFETY: kill(2) on a child of this test.
    unsafe {
        libc::kill(publish.id() as i32, libc::SIGTERM);
    }
    publish.wait().expect("avahi-publish ends");
    browser.wait_for("the printer leaving", |e| {
        matches!(e, BridgeEvent::PeerLeft { peer, .. } | BridgeEvent::PeerLost { peer, .. } if peer.name == "printer")
    });
    other.wait_for("the printer leaving the other browser", |e| {
        matches!(e, BridgeEvent::PeerLeft { peer, .. } | BridgeEvent::PeerLost { peer, .. } if peer.name == "printer")
    });
    drop(browser);
    drop(other);

    // Announce: a node's own record and its named services show in avahi-browse on host 1.
    let mut node = lan.node(2, "lab-node", &["--mdns", "--service", "web=8080"]);
    let lines = avahi.wait_browse("_herald._tcp", "lab-node", |lines| {
        lines.iter().any(|l| l[2] == "IPv4" && l[3] == "lab-node")
    });
    let own = lines.iter().find(|l| l[3] == "lab-node").unwrap();
    assert_eq!(own[7], Lan::ip(2), "{own:?}");
    assert!(own[9].contains("\"name=lab-node\""), "{own:?}");
    assert!(own[9].contains(&format!("\"port={}\"", own[8])), "{own:?}");
    let web = avahi.wait_browse("_web._tcp", "lab-node's web service", |lines| {
        lines.iter().any(|l| l[3] == "lab-node" && l[8] == "8080")
    });
    assert_eq!(web[0][7], Lan::ip(2));
    // Only on the node's interface: nothing of it on IPv6 (mdns-sd keeps to eth0's IPv4 address).
    assert!(
        lines.iter().all(|l| l[3] != "lab-node" || l[2] == "IPv4"),
        "{lines:?}"
    );

    // The node leaves: its announcements are withdrawn (goodbye packets).
    node.stop();
    avahi.wait_browse("_herald._tcp", "withdrawal of lab-node", |lines| {
        lines.iter().all(|l| l[3] != "lab-node")
    });
}

#[test]
fn a_device_that_vanishes_without_a_goodbye_leaves_when_its_records_expire() {
    let lan = Lan::new(2);
    let mut avahi = Avahi::start(&lan, 1, "avahi-h1");
    let browser = lan.node(2, "browser", &["--mdns-browse", "_ipp._tcp"]);
    let mut publish = avahi
        .command("avahi-publish", &["-s", "printer", "_ipp._tcp", "631"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run avahi-publish");
    browser.wait_for("the printer joining", printer_joined);
    // The device is switched off: no goodbye. Avahi's SRV and address records live 120 s; the browser's
    // refresh queries go unanswered and the service expires.
    avahi.vanish();
    browser.wait_for_within(
        Duration::from_secs(200),
        "the vanished printer expiring",
        |e| {
            matches!(e, BridgeEvent::PeerLeft { peer, .. } | BridgeEvent::PeerLost { peer, .. } if peer.name == "printer")
        },
    );
    let _ = publish.kill();
    let _ = publish.wait();
}

/// The id of the node named `name`, as a one-shot on host 2 sees it.
fn id_of(lan: &Lan, name: &str) -> herald_core::NodeId {
    let peers = lan.run(2, &["peers", "--interface", "eth0", "--json"]);
    String::from_utf8_lossy(&peers.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<PeerInfo>(l).ok())
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} in herald peers"))
        .node_id
}

/// Counts the mDNS datagrams arriving on one interface for some seconds: `python3 -c COUNT IFACE ADDR SECS`
/// prints the count.
const COUNT: &str = "import socket, sys, time
iface, addr, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(('', 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton('224.0.0.251') + socket.inet_aton(addr))
s.settimeout(0.2)
n, end = 0, time.time() + secs
while time.time() < end:
    try:
        s.recvfrom(9000)
        n += 1
    except socket.timeout:
        pass
print(n)";

#[test]
fn mdns_keeps_to_the_nodes_interface() {
    // Host 2 is on two networks: the switch (eth0) and a cable to host 1 (eth1, 203.0.113.0/24).
    let lan = Lan::new(2);
    lan.cable(1, 2, "203.0.113.1", "203.0.113.2");
    let (switch, cable) = mdns_heard(&lan, "--interface=eth0");
    assert!(switch > 0, "no mDNS on the node's interface");
    assert_eq!(cable, 0, "mDNS went out on another interface");
    // The other way round, so the cable's listener is shown to hear what comes.
    let (switch, cable) = mdns_heard(&lan, "--interface=eth1");
    assert!(cable > 0, "no mDNS on the node's interface (eth1)");
    assert_eq!(switch, 0, "mDNS went out on another interface (eth0)");
}

/// Runs a node announcing and browsing by DNS-SD on host 2 with `interface` (`--interface=NAME`) while host 1
/// counts the mDNS datagrams arriving on its eth0 (the switch) and eth1 (the cable) for 6 s.
fn mdns_heard(lan: &Lan, interface: &str) -> (u64, u64) {
    let listen = |iface: &str, addr: &str| {
        lan.command_in(1, herald_tests::PYTHON, &["-c", COUNT, iface, addr, "6"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python3")
    };
    let on_switch = listen("eth0", &Lan::ip(1));
    let on_cable = listen("eth1", "203.0.113.1");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _node = lan.spawn(
        2,
        &[
            interface,
            "node",
            "--name",
            "two-armed",
            "--json",
            "--mdns",
            "--mdns-browse",
            "_ipp._tcp",
            "--service",
            "web=8080",
        ],
    );
    let count = |child: std::process::Child| -> u64 {
        let out = child.wait_with_output().expect("the listener ends");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a count")
    };
    (count(on_switch), count(on_cable))
}
