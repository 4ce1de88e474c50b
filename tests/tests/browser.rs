//! The dashboard in a real browser: headless Chromium driven through WebDriver (Debian's chromedriver, with
//! fantoccini) against a live node with the bridge and the IP log, two other nodes and a CLI subscriber, all on
//! loopback (multicast pinned to 127.0.0.1 on a group port of this test's own). The page shows both peers,
//! publishing from the page reaches the CLI subscriber, asking from the page shows both answers, and the IP
//! history shows a host's change (reported from two loopback addresses by a tiny Python sender, as the old
//! DynIP client sends it). A screenshot of each view is saved under the test output folder
//! (`target/tmp/browser/`). A second test runs `herald demo` beside such a node and sees peers, readings and
//! IP history on the page within 10 s.
//!
//! Needs the built dashboard (`dist/`, `cargo xtask web`; `cargo xtask test` builds it first) and Chromium.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use herald_core::bridge::BridgeEvent;
use herald_tests::browser::{
    free_tcp_port, texts, wait_listening, wait_texts, wait_texts_within, Driver,
};
use herald_tests::{binary, Running, TempDir, PATIENCE};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `herald ARGS... --interface 127.0.0.1 --group 239.255.72.68:GROUP` with its own state directory.
fn herald(state: &TempDir, group: u16, args: &[&str]) -> Running {
    let mut command = Command::new(binary("herald"));
    command
        .args(args)
        .args(["--interface", "127.0.0.1", "--group"])
        .arg(format!("239.255.72.68:{group}"))
        .env("XDG_STATE_HOME", state.path())
        .stdin(Stdio::null());
    Running::start(command)
}

/// The built dashboard (`dist/`), as a `--dashboard-dir` argument; panics saying how to build it.
fn built_dashboard() -> String {
    let dist = workspace().join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "the dashboard is not built in {}: run `cargo xtask web` (cargo xtask test does)",
        dist.display()
    );
    dist.to_string_lossy().into_owned()
}

/// The node the page talks to: `hub`, with the bridge on `bridge`, the IP log on `dynip` (its database in
/// `state`), the built dashboard, and `extra` flags.
fn hub(state: &TempDir, group: u16, bridge: &str, dynip: &str, extra: &[&str]) -> Running {
    let db = state.join("iplog.db");
    let dist = built_dashboard();
    let mut args = vec![
        "node",
        "--name",
        "hub",
        "--bridge",
        bridge,
        "--dynip",
        dynip,
        "--db",
        &db,
        "--dashboard-dir",
        &dist,
        "--json",
    ];
    args.extend_from_slice(extra);
    herald(state, group, &args)
}

async fn fill(client: &Client, testid: &str, text: &str) {
    let field = client
        .find(Locator::Css(&format!("[data-testid={testid}]")))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Saves a screenshot of the section titled `id` as `name.png` in the test output folder.
async fn screenshot(client: &Client, id: &str, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let section = client
        .find(Locator::Css(&format!("section[aria-labelledby={id}]")))
        .await
        .unwrap();
    let png = section.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The old DynIP client's datagram (the bare host name), sent from `source` by Python's socket module.
fn legacy_report(host: &str, source: &str, port: u16) {
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('{source}', 0))\n\
         s.sendto(b'{host}', ('127.0.0.1', {port}))\n"
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("run python3");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_peers_publishes_asks_and_ip_history_in_a_real_browser() {
    let state = TempDir::new("browser-state");
    let group = 20_000 + (std::process::id() % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let dynip_port = free_udp_port();
    let dynip = format!("127.0.0.1:{dynip_port}");
    let _hub = hub(&state, group, &bridge, &dynip, &["--heartbeat", "200"]);
    let _alpha = herald(
        &state,
        group,
        &["node", "--name", "alpha", "--heartbeat", "200", "--json"],
    );
    let _bravo = herald(
        &state,
        group,
        &["node", "--name", "bravo", "--heartbeat", "200", "--json"],
    );
    let subscriber = herald(
        &state,
        group,
        &["subscribe", "news", "--count", "1", "--json"],
    );

    let driver = Driver::start();
    let profile = TempDir::new("browser-profile");
    let client = driver.browser(&profile).await;
    // Once the bridge listens, the page's first load is a cold one (a new profile).
    wait_listening(&bridge).await;
    // The browser itself is warm (as a user's is); the page's cache is empty.
    client.goto("about:blank").await.unwrap();
    let loading = Instant::now();
    client.goto(&format!("http://{bridge}/")).await.unwrap();
    wait_texts(&client, "the title", "app-title", |t| t == ["Herald"]).await;
    // A figure, not an assertion (timing goals belong in benchmarks): printed for the closing note.
    println!(
        "dashboard: first render {} ms after navigation started (cold load, localhost)",
        loading.elapsed().as_millis()
    );
    // Peers: both appear, and the connection is live with the node's name.
    wait_texts(&client, "the live connection", "connection-state", |t| {
        t == ["Live"]
    })
    .await;
    wait_texts(&client, "the node's name", "node-name", |t| t == ["hub"]).await;
    wait_texts(
        &client,
        "the node's name in the bar",
        "bar-node-name",
        |t| t == ["node hub"],
    )
    .await;
    assert_eq!(
        texts(&client, "bridge-address").await,
        std::slice::from_ref(&bridge)
    );
    wait_texts(&client, "alpha and bravo", "peer-name", |t| {
        t.iter().any(|n| n == "alpha") && t.iter().any(|n| n == "bravo")
    })
    .await;
    screenshot(&client, "peers-title", "peers").await;

    // Publish from the page: the CLI subscriber prints it (published again until the hub knows the
    // subscriber's topic from its beacon).
    fill(&client, "publish-topic", "news").await;
    fill(&client, "publish-body", "from the page").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        click(&client, "[data-testid=publish-button]").await;
        let got = subscriber.try_take(|e| {
            matches!(e, BridgeEvent::Message(m) if m.payload.as_text() == Some("from the page"))
        });
        if got.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the CLI subscriber never got the page's message"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(texts(&client, "action-error").await.is_empty());
    // The page's own subscription shows the page's message in its feed.
    fill(&client, "subscribe-topic", "news").await;
    click(&client, "[data-testid=subscribe-button]").await;
    wait_texts(&client, "the subscription", "subscription", |t| {
        t.iter().any(|s| s.starts_with("news"))
    })
    .await;
    click(&client, "[data-testid=publish-button]").await;
    wait_texts(&client, "the message in the feed", "feed-body", |t| {
        t.iter().any(|b| b == "from the page")
    })
    .await;
    screenshot(&client, "messages-title", "messages").await;

    // Ask alpha and bravo: both answer the built-in ping.
    let boxes = client
        .find_all(Locator::XPath("//label[contains(@class,'choice')][normalize-space()='alpha' or normalize-space()='bravo']/input"))
        .await
        .unwrap();
    assert_eq!(boxes.len(), 2, "alpha's and bravo's boxes");
    for element in &boxes {
        element.click().await.unwrap();
    }
    fill(&client, "ask-question", "ping").await;
    click(&client, "[data-testid=ask-button]").await;
    wait_texts(&client, "both answers", "ask-state", |t| {
        t == ["answered", "answered"]
    })
    .await;
    let outcomes = texts(&client, "ask-outcome").await;
    assert!(outcomes.iter().all(|o| o.contains("pong")), "{outcomes:?}");
    screenshot(&client, "ask-title", "ask").await;

    // IP history: a host reports from one address, the page loads the history, then the host moves and the
    // change appears live.
    legacy_report("roamer", "127.0.0.2", dynip_port);
    let deadline = Instant::now() + PATIENCE;
    loop {
        click(&client, "[data-testid=history-button]").await;
        if texts(&client, "history-ip")
            .await
            .iter()
            .any(|ip| ip == "127.0.0.2")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the history never showed roamer's first address"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    legacy_report("roamer", "127.0.0.3", dynip_port);
    wait_texts(&client, "roamer's move", "history-ip", |t| {
        t.iter().any(|ip| ip == "127.0.0.2") && t.iter().any(|ip| ip == "127.0.0.3")
    })
    .await;
    assert!(texts(&client, "timeline-bar").await.len() >= 2);
    screenshot(&client, "history-title", "history").await;
    screenshot(&client, "log-title", "log").await;

    // At 360 px wide nothing overflows the page sideways (wide tables scroll inside their own box).
    client.set_window_size(360, 1400).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            Vec::new(),
        )
        .await
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::write(dir.join("narrow.png"), client.screenshot().await.unwrap()).unwrap();
    assert_eq!(overflow.as_i64(), Some(0), "the page is wider than 360 px");
    client.close().await.unwrap();
}

/// What a newcomer's `cargo xtask run` shows: a node with the bridge and the IP log, and `herald demo` beside
/// it. Within 10 s of the demo's start the page lists at least three peers, a message in the feed and a row
/// of IP history. The page is saved as `target/tmp/browser/demo.png` (the README's picture).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fills_the_dashboard_with_peers_messages_and_ip_history_within_seconds() {
    built_dashboard();
    // The browser first, so that its start-up is not counted in the demo's 10 s.
    let driver = Driver::start();
    let profile = TempDir::new("demo-profile");
    let client = driver.browser(&profile).await;
    client.goto("about:blank").await.unwrap();

    let state = TempDir::new("demo-state");
    let group = 20_000 + ((std::process::id() + 7_919) % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let dynip = format!("127.0.0.1:{}", free_udp_port());
    let _hub = hub(&state, group, &bridge, &dynip, &["--subscribe", "*"]);
    let started = Instant::now();
    let _demo = herald(&state, group, &["demo", "--report-every", "1"]);
    wait_listening(&bridge).await;
    client.goto(&format!("http://{bridge}/")).await.unwrap();
    let budget = || Duration::from_secs(10).saturating_sub(started.elapsed());
    wait_texts_within(&client, budget(), "three peers", "peer-name", |names| {
        ["greenhouse", "weather-station", "printer"]
            .iter()
            .all(|name| names.iter().any(|n| n == name))
    })
    .await;
    wait_texts_within(
        &client,
        budget(),
        "a message in the feed",
        "feed-body",
        |bodies| !bodies.is_empty(),
    )
    .await;
    wait_texts_within(
        &client,
        budget(),
        "a row of IP history",
        "history-ip",
        |ips| !ips.is_empty(),
    )
    .await;
    println!(
        "demo: peers, a message and IP history on the page {} ms after the demo started",
        started.elapsed().as_millis()
    );
    // A few seconds more for a fuller picture, then the screenshot.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join("demo.png"), png).unwrap();
    // The readings keep coming: the feed grows.
    let before = texts(&client, "feed-body").await.len();
    wait_texts(&client, "more readings", "feed-body", |bodies| {
        bodies.len() > before
    })
    .await;
    client.close().await.unwrap();
}
