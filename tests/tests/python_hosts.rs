//! Herald for Python across hosts: Python programs using the `herald-lan` package and `herald` CLI processes in
//! network namespaces joined by a bridge (198.51.100.0/24), on the default group and port, each on its host's
//! `eth0`.
//!
//! - Python nodes (`python/tests/hosts/peer.py`, one role each) and CLI nodes: a Python subscriber gets a CLI
//!   publisher's messages in order and a CLI subscriber a Python publisher's; a Python node answers a CLI
//!   `herald ask`; a Python `ask` gets a CLI node's answer and `None` for a ghost; `lookup` finds a CLI node's
//!   service; a keyed LAN refuses an unkeyed Python node and takes a keyed one.
//! - The old tools' README examples (`python/tests/examples/`), with only the import line changed, each
//!   terminal an interactive interpreter on a host of its own: pythonConnect's `Connect` example on two
//!   hosts, hein's three-terminal example on three.
//!
//! `#[ignore]`d for plain `cargo test`: they need the wheel installed in a Python, which `cargo xtask python
//! --test` (a step of `cargo xtask test`) does first, then runs them with `--ignored` and `HERALD_PYTHON` set
//! to that Python. Needs root. Waits on events with generous timeouts; no durations asserted.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_core::bridge::BridgeEvent;
use herald_tests::{binary, Lan, Running, TempDir, PATIENCE};
use serde_json::{json, Value};

const NEEDS_WHEEL: &str =
    "needs the herald-lan wheel installed: run by `cargo xtask python --test`";

/// The Python with the `herald-lan` wheel installed (`HERALD_PYTHON`, set by `cargo xtask python --test`).
fn python() -> String {
    std::env::var("HERALD_PYTHON").unwrap_or_else(|_| {
        panic!("HERALD_PYTHON is not set: these tests need a Python with the herald-lan wheel ({NEEDS_WHEEL})")
    })
}

/// `python/tests/SUB/FILE` in the checkout.
fn script(sub: &str, file: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "python",
        "tests",
        sub,
        file,
    ]
    .iter()
    .collect();
    path.to_string_lossy().into_owned()
}

/// The installed Python on host `i` running `args` unbuffered, its node ids kept in `state`.
fn python_on(lan: &Lan, i: usize, state: &TempDir, args: &[&str]) -> Command {
    let python = python();
    let mut full = vec!["-u"];
    full.extend_from_slice(args);
    let mut command = lan.command_in(i, &python, &full);
    command.env("XDG_STATE_HOME", state.path());
    command
}

/// `peer.py ROLE NAME ARGS...` on host `i`, reading its JSON lines.
fn peer(
    lan: &Lan,
    i: usize,
    state: &TempDir,
    role: &str,
    name: &str,
    args: &[&str],
) -> Running<Value> {
    let peer = script("hosts", "peer.py");
    let mut full = vec![peer.as_str(), role, name];
    full.extend_from_slice(args);
    Running::start_json(python_on(lan, i, state, &full))
}

/// `peer.py ask NAME ARGS...` on host `i` to its end: whether it saw the peer it waited for, and the answers.
fn ask(lan: &Lan, i: usize, state: &TempDir, name: &str, args: &[&str]) -> (Value, Value) {
    let asker = peer(lan, i, state, "ask", name, args);
    let seen = asker.wait_for(&format!("{name} to wait for its peer"), has("seen"));
    let answers = asker.wait_for(&format!("{name}'s answers"), has("answers"));
    (seen["seen"].clone(), answers["answers"].clone())
}

/// An interactive interpreter on host `i` (`python -i`) that has run the example `file` with `args` and now
/// reads the lines a test types ([`Running::feed`]); what it prints is read line by line (prompts go to stderr).
fn interpreter(lan: &Lan, i: usize, state: &TempDir, file: &str, args: &[&str]) -> Running<String> {
    let example = script("examples", file);
    let mut full = vec!["-q", "-i", example.as_str()];
    full.extend_from_slice(args);
    let mut command = python_on(lan, i, state, &full);
    command.stdin(Stdio::piped());
    Running::start_lines(command)
}

/// Types `expression` into `shell` again and again until it prints `wanted` (as a reader would look again
/// until the transmitter shows both listeners).
fn until_printed(shell: &mut Running<String>, expression: &str, wanted: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        shell.feed(expression);
        let got = shell.wait_for(&format!("the value of {expression}"), |line| {
            !line.is_empty() && line.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if got == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expression} is still {got}, not {wanted}, after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has(key: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line.get(key).is_some()
}

fn message_text(event: &BridgeEvent) -> Option<&str> {
    match event {
        BridgeEvent::Message(m) => m.payload.as_text(),
        _ => None,
    }
}

/// `herald keygen` into `dir`: the key file's path.
fn keygen(dir: &TempDir) -> String {
    let path = dir.join("lan.key");
    let out = Command::new(binary("herald"))
        .args(["keygen", &path])
        .output()
        .expect("run herald keygen");
    assert!(out.status.success(), "{out:?}");
    path
}

#[test]
#[ignore = "needs the herald-lan wheel installed: run by `cargo xtask python --test`"]
fn python_and_cli_publishers_and_subscribers_on_other_hosts_get_every_message_in_order() {
    let lan = Lan::new(4);
    let state = TempDir::new("py-pubsub");
    // CLI publisher on host 2 -> Python subscriber on host 1.
    let subscriber = peer(
        &lan,
        1,
        &state,
        "subscribe",
        "py-sub",
        &["sensors.*", "200"],
    );
    subscriber.wait_for("the Python subscriber to be ready", has("ready"));
    let mut publisher = lan.publisher(2, "sensors.kitchen", 1);
    for i in 0..200 {
        publisher.feed(&format!("reading {i}"));
    }
    assert!(publisher.finish_input().success());
    for i in 0..200 {
        let line = subscriber.wait_for(&format!("message {i}"), has("topic"));
        assert_eq!(line["text"], json!(format!("reading {i}")), "in order");
        assert_eq!(line["topic"], json!("sensors.kitchen"));
    }
    assert!(
        subscriber.try_take(has("missed")).is_none(),
        "nothing missed"
    );

    // Python publisher on host 4 -> CLI subscriber on host 3.
    let cli = lan.spawn(3, &["subscribe", "chat", "--interface", "eth0", "--json"]);
    let py = peer(&lan, 4, &state, "publish", "py-pub", &["chat", "50"]);
    let done = py.wait_for("the Python publisher to finish", has("published"));
    assert_eq!(
        done["subscribers"].as_array().map(Vec::len),
        Some(1),
        "{done}"
    );
    for i in 0..50 {
        let event = cli.wait_for(&format!("message {i}"), |e| message_text(e).is_some());
        assert_eq!(
            message_text(&event),
            Some(format!("line {i}").as_str()),
            "in order"
        );
        match event {
            BridgeEvent::Message(m) => assert_eq!(m.from_name, "py-pub"),
            _ => unreachable!(),
        }
    }
    py.wait_for("the Python node to leave", has("closed"));
}

#[test]
#[ignore = "needs the herald-lan wheel installed: run by `cargo xtask python --test`"]
fn python_and_cli_nodes_on_other_hosts_ask_each_other_and_look_up_services() {
    let lan = Lan::new(4);
    let state = TempDir::new("py-ask");
    // A Python node answers a CLI `herald ask`.
    let answerer = peer(&lan, 1, &state, "answer", "py-answer", &[]);
    answerer.wait_for("the Python answerer to be ready", has("ready"));
    let out = lan.run(
        2,
        &[
            "ask",
            "--interface",
            "eth0",
            "--to",
            "py-answer",
            "--timeout",
            "5",
            "hello",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let answers: Value = serde_json::from_slice(&out.stdout).expect("herald ask prints JSON");
    assert_eq!(answers, json!({"py-answer": "you said hello"}));
    let asked = answerer.wait_for("the question's sender", has("asked_by"));
    assert!(
        asked["asked_by"]
            .as_str()
            .is_some_and(|s| s.contains("-cli-")),
        "{asked}"
    );

    // A Python `ask` gets a CLI node's answer (and the Python node's) and None for a ghost.
    let _rusty = lan.node(3, "rusty", &["--service", "web=8080"]);
    let (seen, answers) = ask(
        &lan,
        4,
        &state,
        "py-asker",
        &["rusty", "py-answer", "ghost", "--wait-for", "rusty"],
    );
    assert_eq!(seen, json!(true));
    assert_eq!(
        answers,
        json!({"rusty": "pong", "py-answer": "you said ping", "ghost": null})
    );

    // `lookup` finds the CLI node's service at its host's address.
    let lookup = peer(&lan, 2, &state, "lookup", "py-lookup", &["web"]);
    let found = lookup.wait_for("the lookup", has("found"));
    assert_eq!(found["found"], json!([[Lan::ip(3), 8080]]));
}

#[test]
#[ignore = "needs the herald-lan wheel installed: run by `cargo xtask python --test`"]
fn a_keyed_lan_refuses_an_unkeyed_python_node_and_takes_a_keyed_one() {
    let lan = Lan::new(3);
    let state = TempDir::new("py-keyed");
    let dir = TempDir::new("py-keyed-key");
    let key = keygen(&dir);
    let keyed = lan.node(1, "keyed-cli", &["--key-file", &key]);

    // Three seconds: long enough to see it many times over (heartbeats of 200 ms), were it let in.
    let unkeyed = ["keyed-cli", "--wait-for", "keyed-cli", "--seconds", "3"];
    let (seen, answers) = ask(&lan, 2, &state, "py-open", &unkeyed);
    assert_eq!((seen, answers), (json!(false), json!({"keyed-cli": null})));

    let keyed_args = ["keyed-cli", "--wait-for", "keyed-cli", "--key", &key];
    let (seen, answers) = ask(&lan, 3, &state, "py-keyed", &keyed_args);
    assert_eq!((seen, answers), (json!(true), json!({"keyed-cli": "pong"})));
    // The keyed CLI node saw the keyed Python node join, and never the unkeyed one.
    keyed.wait_for(
        "the keyed node to see py-keyed",
        |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "py-keyed"),
    );
    assert!(
        keyed
            .try_take(
                |e| matches!(e, BridgeEvent::PeerJoined { peer, .. } if peer.name == "py-open")
            )
            .is_none(),
        "the unkeyed Python node joined the keyed LAN"
    );
}

#[test]
#[ignore = "needs the herald-lan wheel installed: run by `cargo xtask python --test`"]
fn pythonconnects_readme_example_runs_on_two_hosts_with_only_the_import_line_changed() {
    let lan = Lan::new(2);
    let state = TempDir::new("py-connect");
    let mut alpha = interpreter(&lan, 1, &state, "connect_device.py", &["alpha"]);
    let bravo = interpreter(&lan, 2, &state, "connect_device.py", &["bravo"]);
    let listed = |name: &str, i: usize| format!("remote devices: {{'{name}': '{}'}}", Lan::ip(i));
    alpha.wait_for("alpha's fhu to list bravo", |l| *l == listed("bravo", 2));
    bravo.wait_for("bravo's fhu to list alpha", |l| *l == listed("alpha", 1));

    // The README's "Example of use", typed into alpha's interpreter.
    alpha.feed("connect.sendMessage('hello', 'bravo')");
    bravo.wait_for("bravo's fr", |l| l == "message from alpha: hello");
    alpha.feed("connect.sendMessage('to everyone', 'toAll')");
    bravo.wait_for("bravo's fr", |l| l == "message from alpha: to everyone");
    alpha.feed("answer = connect.askDevice('how are you?', ['bravo', 'ghost'], timeout=3)");
    alpha.feed("print(answer)");
    alpha.wait_for("the answers", |l| {
        l == "{'bravo': 'bravo heard how are you? from alpha', 'ghost': ''}"
    });
    // An answer that raises: the asker gets "", and the answerer's fe the question.
    alpha.feed("connect.askDevice('divide by zero', 'bravo')");
    alpha.wait_for("the failed answer", |l| l == "{'bravo': ''}");
    bravo.wait_for("bravo's fe", |l| l == "error with: divide by zero");

    alpha.feed("connect.leavingNetwork()");
    bravo.wait_for("bravo's fhu to drop alpha", |l| l == "remote devices: {}");
    assert!(alpha.finish_input().success());
}

#[test]
#[ignore = "needs the herald-lan wheel installed: run by `cargo xtask python --test`"]
fn heins_three_terminal_readme_example_runs_on_three_hosts_with_only_the_import_line_changed() {
    let lan = Lan::new(3);
    let state = TempDir::new("py-hein");
    let captain = interpreter(&lan, 1, &state, "hein_listener_1.py", &[]);
    let mut tx = interpreter(&lan, 2, &state, "hein_transmitter.py", &[]);
    let mut kirk = interpreter(&lan, 3, &state, "hein_listener_2.py", &[]);
    until_printed(&mut tx, "t.nreceivers", "2");

    tx.feed("t.tell_raw('hello!')");
    tx.wait_for("tell_raw's result", |l| l == "True");
    // The receivers' default `process` prints what came.
    captain.wait_for("the message in Captain's terminal", |l| {
        l == "Captain: None: 'hello!'"
    });
    kirk.wait_for("the message in Kirk's terminal", |l| {
        l == "Kirk: None: 'hello!'"
    });

    // "Now close one listener and type t.ping()".
    kirk.feed("r.close()");
    assert!(kirk.finish_input().success());
    until_printed(&mut tx, "t.nreceivers", "1");
    tx.feed("t.ping()");
    tx.wait_for("ping's result", |l| l == "True");
    assert!(tx.finish_input().success());
}
