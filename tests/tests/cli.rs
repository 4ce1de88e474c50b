//! The `herald` binary as a user runs it: separate processes on loopback (each test its own group port),
//! exit statuses and output.

use std::process::{Command, Output};

use herald_core::bridge::{BridgeEvent, PeerInfo};
use herald_tests::{binary, Running};

fn herald(args: &[&str]) -> Output {
    Command::new(binary("herald"))
        .args(args)
        .output()
        .expect("run herald")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn herald_prints_its_version() {
    let output = herald(&["--version"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout).trim(),
        format!("herald {}", herald_core::SOFTWARE_VERSION)
    );
}

#[test]
fn help_lists_the_subcommands_with_examples() {
    let help = text(&herald(&["--help"]).stdout);
    for word in [
        "node",
        "peers",
        "lookup",
        "keygen",
        "Examples:",
        "--interface",
    ] {
        assert!(help.contains(word), "--help lacks {word:?}:\n{help}");
    }
}

#[test]
fn a_typo_in_the_config_file_is_an_error() {
    let dir = std::env::temp_dir().join(format!("herald-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("typo.toml");
    std::fs::write(&config, "nmae = \"alpha\"\n").unwrap();
    let output = herald(&[
        "node",
        "--config",
        config.to_str().unwrap(),
        "--interface",
        "127.0.0.1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("nmae"),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_node_is_found_by_peers_and_lookup_from_other_processes() {
    let dir = std::env::temp_dir().join(format!("herald-cli-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("alpha.toml");
    // Flags and the config file together: the group comes from the file.
    std::fs::write(
        &config,
        "group = \"239.255.72.68:29451\"\nheartbeat = 200\n[service]\nweb = 8080\n",
    )
    .unwrap();
    let group = ["--interface", "127.0.0.1", "--group", "239.255.72.68:29451"];
    let mut node = Command::new(binary("herald"));
    node.args([
        "node",
        "--name",
        "cli-alpha",
        "--interface",
        "127.0.0.1",
        "--json",
        "--config",
    ])
    .arg(&config)
    .env("XDG_STATE_HOME", &dir);
    let alpha = Running::start(node);
    // A second node on the group: once alpha has seen it, alpha is up and answers a newcomer at once, so the
    // one-shot below finds it without depending on how long alpha took to start.
    let mut watcher = Command::new(binary("herald"));
    watcher
        .args(["node", "--name", "cli-watcher", "--json"])
        .args(group)
        .env("XDG_STATE_HOME", dir.join("watcher"));
    let watcher = Running::start(watcher);
    alpha.wait_for(
        "the watcher joining",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "cli-watcher"),
    );

    let mut peers_args = vec!["peers", "--json", "--wait", "1"];
    peers_args.extend_from_slice(&group);
    let peers = herald(&peers_args);
    assert!(peers.status.success(), "{}", text(&peers.stderr));
    let found: Vec<PeerInfo> = text(&peers.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let alpha_info = found
        .iter()
        .find(|p| p.name == "cli-alpha")
        .expect("peers lists cli-alpha");
    assert_eq!(
        alpha_info.services["web"],
        "127.0.0.1:8080".parse().unwrap()
    );
    // The one-shot joined and left: the node saw both.
    alpha.wait_for("the one-shot joining", |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.kind == herald_core::PeerKind::Cli));
    alpha.wait_for("the one-shot leaving", |e| matches!(e, BridgeEvent::PeerLeft { peer, .. } if peer.kind == herald_core::PeerKind::Cli));

    let mut lookup_args = vec!["lookup", "web", "--wait", "0.5"];
    lookup_args.extend_from_slice(&group);
    let lookup = herald(&lookup_args);
    assert!(lookup.status.success(), "{}", text(&lookup.stderr));
    assert_eq!(text(&lookup.stdout).trim(), "127.0.0.1:8080");
    drop((alpha, watcher));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn herald_publish_reaches_herald_subscribe() {
    let group = ["--interface", "127.0.0.1", "--group", "239.255.72.68:29452"];
    let mut subscriber = Command::new(binary("herald"))
        .args(["subscribe", "sensors.*", "--count", "1", "--json"])
        .args(group)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Publish until the subscriber has its message (it may still be starting for the first tries).
    let mut exited = None;
    for _ in 0..20 {
        let mut args = vec!["publish", "sensors.kitchen", "21.5 C", "--wait", "0.3"];
        args.extend_from_slice(&group);
        let published = herald(&args);
        assert!(published.status.success(), "{}", text(&published.stderr));
        if let Some(status) = subscriber.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
    }
    let status = exited.unwrap_or_else(|| {
        let _ = subscriber.kill();
        panic!("the subscriber never got a message")
    });
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut subscriber.stdout.take().unwrap(), &mut out).unwrap();
    let event = BridgeEvent::from_json(out.lines().next().expect("one line")).unwrap();
    let BridgeEvent::Message(message) = event else {
        panic!("not a message: {out}")
    };
    assert_eq!(message.topic.as_deref(), Some("sensors.kitchen"));
    assert_eq!(message.payload.as_text(), Some("21.5 C"));
}

#[test]
fn a_blocking_publish_from_stdin_reaches_a_slow_reader_whole_and_in_order() {
    // 30 MB: more than the subscriber's stream, both sockets' buffers and the publisher's queue hold while
    // the reader waits, so without `block` the publisher would drop (and say so).
    const LINES: usize = 30_000;
    let line = |i: usize| format!("line {i} {}", "x".repeat(1000));
    let group = ["--interface", "127.0.0.1", "--group", "239.255.72.68:29453"];
    let mut subscriber = Command::new(binary("herald"))
        .args(["subscribe", "bulk", "--count", &LINES.to_string(), "--json"])
        .args(group)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing for a while, so its links fill and the publisher must wait (`block`), not drop.
    let stdout = subscriber.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let mut out = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut out).unwrap();
        out
    });
    let mut publisher = Command::new(binary("herald"))
        .args(["publish", "bulk", "-", "--overflow", "block"])
        .args(["--subscribers", "1", "--wait", "10"])
        .args(group)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = (0..LINES).map(|i| line(i) + "\n").collect();
    std::io::Write::write_all(&mut publisher.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let published = publisher.wait_with_output().unwrap();
    assert!(published.status.success(), "{}", text(&published.stderr));
    assert!(
        !text(&published.stderr).contains("dropped"),
        "{}",
        text(&published.stderr)
    );
    assert!(subscriber.wait().unwrap().success());
    let out = reader.join().unwrap();
    let texts: Vec<String> = out
        .lines()
        .filter_map(|line| match BridgeEvent::from_json(line).unwrap() {
            BridgeEvent::Message(m) => m.payload.as_text().map(str::to_owned),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..LINES).map(line).collect();
    assert_eq!(texts.len(), LINES);
    assert_eq!(texts, expected);
}

#[test]
fn one_shots_with_a_seed_find_nodes_that_multicast_does_not_join() {
    // Each process on its own loopback address and its own group port: only the seed joins them.
    let dir = std::env::temp_dir().join(format!("herald-cli-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_at = "127.0.22.2:29461";
    let node = |name: &str, ip: &str, group: &str, extra: &[&str]| {
        let mut command = Command::new(binary("herald"));
        command
            .args(["node", "--name", name, "--json", "--heartbeat", "200"])
            .args(["--interface", ip, "--group", group])
            .args(extra)
            .env("XDG_STATE_HOME", dir.join(name));
        Running::start(command)
    };
    let seed = node("cli-seed", "127.0.22.2", "239.255.72.68:29461", &[]);
    let far = node(
        "cli-far",
        "127.0.22.3",
        "239.255.72.68:29462",
        &["--seed", seed_at, "--service", "web=8080"],
    );
    seed.wait_for(
        "cli-far joining through the seed",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "cli-far"),
    );
    far.wait_for(
        "the seed seen by cli-far",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "cli-seed"),
    );
    let one_shot = [
        "--interface",
        "127.0.22.4",
        "--group",
        "239.255.72.68:29463",
        "--seed",
        seed_at,
    ];

    let mut peers_args = vec!["peers", "--json", "--wait", "1.5"];
    peers_args.extend_from_slice(&one_shot);
    let peers = herald(&peers_args);
    assert!(peers.status.success(), "{}", text(&peers.stderr));
    let mut names: Vec<String> = text(&peers.stdout)
        .lines()
        .map(|l| serde_json::from_str::<PeerInfo>(l).unwrap().name)
        .collect();
    names.sort();
    assert_eq!(names, ["cli-far", "cli-seed"]);

    // The same without the seed finds nobody: multicast really does not join them.
    let alone = herald(&[
        "peers",
        "--json",
        "--wait",
        "1",
        "--interface",
        "127.0.22.4",
        "--group",
        "239.255.72.68:29463",
    ]);
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    assert_eq!(text(&alone.stdout).trim(), "");

    let mut lookup_args = vec!["lookup", "web", "--wait", "1.5"];
    lookup_args.extend_from_slice(&one_shot);
    let lookup = herald(&lookup_args);
    assert!(lookup.status.success(), "{}", text(&lookup.stderr));
    assert_eq!(text(&lookup.stdout).trim(), "127.0.22.3:8080");

    let mut ask_args = vec!["ask", "--to", "cli-far", "--timeout", "3", "ping"];
    ask_args.extend_from_slice(&one_shot);
    let ask = herald(&ask_args);
    assert!(ask.status.success(), "{}", text(&ask.stderr));
    let answers: serde_json::Value = serde_json::from_slice(&ask.stdout).unwrap();
    assert!(!answers["cli-far"].is_null(), "{answers}");
    drop((seed, far));
    std::fs::remove_dir_all(&dir).unwrap();
}
