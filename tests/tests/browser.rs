//! The dashboard in a real browser: headless Chromium driven through WebDriver (Debian's chromedriver, with
//! fantoccini) against a live node with the bridge and the IP log, two other nodes and a CLI subscriber, all on
//! loopback (multicast pinned to 127.0.0.1 on a group port of this test's own). The page shows both peers,
//! publishing from the page reaches the CLI subscriber, asking from the page shows both answers, and the IP
//! history shows a host's change (reported from two loopback addresses by a tiny Python sender, as the old
//! DynIP client sends it). A screenshot of each view is saved under the test output folder
//! (`target/tmp/browser/`). A second test runs `herald demo` beside such a node and sees peers, readings and
//! IP history on the page within 10 s. A node without an IP log says so plainly in a peer's detail (no error).
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
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The busy-topic measurement times the page's main thread, which other browsers and nodes on this 2-core
/// machine would slow: every other test holds a read guard for its whole life ([`sharing_the_machine`]) and
/// the measurement takes the write guard ([`alone_on_the_machine`]), so while it runs no other browser test
/// does, and its figure is the page's rather than the machine's.
/// tokio's lock is fair: a waiting measurement goes before tests that start after it asked.
static MACHINE: RwLock<()> = RwLock::const_new(());

/// A read guard on [`MACHINE`].
async fn sharing_the_machine() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// The write guard on [`MACHINE`]: waits until no other browser test runs.
async fn alone_on_the_machine() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

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

/// The command `herald ARGS... --interface 127.0.0.1 --group 239.255.72.68:GROUP` with its own state directory.
fn herald_command(state: &TempDir, group: u16, args: &[&str]) -> Command {
    let mut command = Command::new(binary("herald"));
    command
        .args(args)
        .args(["--interface", "127.0.0.1", "--group"])
        .arg(format!("239.255.72.68:{group}"))
        .env("XDG_STATE_HOME", state.path())
        .stdin(Stdio::null());
    command
}

/// [`herald_command`], started.
fn herald(state: &TempDir, group: u16, args: &[&str]) -> Running {
    Running::start(herald_command(state, group, args))
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

/// Opens the dashboard of the bridge at `bridge` once it listens, and waits for the page to be live.
async fn open_live(client: &Client, bridge: &str) {
    wait_listening(bridge).await;
    client.goto(&format!("http://{bridge}/")).await.unwrap();
    wait_texts(client, "the live connection", "connection-state", |t| {
        t == ["Live"]
    })
    .await;
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
    click_at(client, Locator::Css(css)).await;
}

async fn click_at(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
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
    let _sharing = sharing_the_machine().await;
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
    let _sharing = sharing_the_machine().await;
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

/// Where the README's screenshots go (committed when they change).
fn screenshots_dir() -> PathBuf {
    let dir = workspace().join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the whole window at `width` x `height` as `docs/screenshots/NAME.png`.
async fn window_screenshot(client: &Client, width: u32, height: u32, name: &str) {
    client.set_window_size(width, height).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// The page's figure (an execute_script result) as a number.
async fn figure(client: &Client, script: &str) -> f64 {
    client
        .execute(script, Vec::new())
        .await
        .unwrap()
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// `herald peers --json` on the test's group: the names it lists.
fn cli_peer_names(state: &TempDir, group: u16) -> Vec<String> {
    let output = herald_command(state, group, &["peers", "--json", "--wait", "2"])
        .output()
        .expect("run herald peers");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|peer| peer["name"].as_str().map(str::to_owned))
        .collect()
}

/// The overview, the network picture, a peer's detail, the controls (clicked), screenshots, a busy topic
/// (5,000 messages/s: the longest main-thread task and a keystroke's time are printed), and a node restart
/// the page recovers from by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_overview_graph_and_detail_follow_the_lan_and_stay_responsive_under_load() {
    let state = TempDir::new("overview-state");
    let group = 20_000 + ((std::process::id() + 3_571) % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let dynip_port = free_udp_port();
    let dynip = format!("127.0.0.1:{dynip_port}");
    let mut hub_node = hub(&state, group, &bridge, &dynip, &["--heartbeat", "200"]);
    let _alpha = herald(
        &state,
        group,
        &[
            "node",
            "--name",
            "alpha",
            "--heartbeat",
            "200",
            "--service",
            "web=8080",
            "--subscribe",
            "news",
            "--json",
        ],
    );
    let _bravo = herald(
        &state,
        group,
        &["node", "--name", "bravo", "--heartbeat", "200", "--json"],
    );
    let driver = Driver::start();
    let profile = TempDir::new("overview-profile");
    let client = driver.browser(&profile).await;
    open_live(&client, &bridge).await;
    wait_texts(&client, "alpha and bravo", "peer-name", |t| {
        t.iter().any(|n| n == "alpha") && t.iter().any(|n| n == "bravo")
    })
    .await;

    // The overview's live count is what `herald peers` lists, less the hub itself.
    let listed = cli_peer_names(&state, group);
    assert!(listed.iter().any(|n| n == "hub"), "{listed:?}");
    let expected = (listed.len() - 1).to_string();
    wait_texts(&client, "the live count", "overview-live", |t| {
        t == [expected.as_str()]
    })
    .await;
    assert!(texts(&client, "overview-kind")
        .await
        .iter()
        .any(|k| k.ends_with("herald")));

    // The graph: one node per live peer and the hub itself, each a <g> with a <text> name.
    let live_nodes = || async {
        client
            .find_all(Locator::Css("g[data-testid=peer][data-state=live] text"))
            .await
            .unwrap()
            .len()
    };
    let deadline = Instant::now() + PATIENCE;
    while live_nodes().await != listed.len() {
        assert!(
            Instant::now() < deadline,
            "the graph never had {} live nodes",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An open link is an edge: publishing on alpha's topic makes the hub link to alpha.
    fill(&client, "publish-topic", "news").await;
    fill(&client, "publish-body", "hello alpha").await;
    let deadline = Instant::now() + PATIENCE;
    let outbound = |edges: &[String]| edges.iter().any(|e| e.starts_with('→'));
    while !outbound(&texts(&client, "link-edge").await) {
        click(&client, "[data-testid=publish-button]").await;
        assert!(Instant::now() < deadline, "no link edge appeared");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A link a peer opened is an edge too: a CLI publisher on a topic the page's node subscribes links into
    // it (kept open, publishing a line every half second, until the edge shows what it received).
    fill(&client, "subscribe-topic", "inbound").await;
    click(&client, "[data-testid=subscribe-button]").await;
    wait_texts(&client, "the inbound subscription", "subscription", |t| {
        t.iter().any(|s| s.starts_with("inbound"))
    })
    .await;
    let mut pusher = herald_command(&state, group, &["publish", "inbound", "-", "--wait", "1"]);
    pusher.stdin(Stdio::piped());
    let mut pusher = Running::start(pusher);
    let deadline = Instant::now() + PATIENCE;
    let inbound = "g[data-testid=link-edge][data-direction=in]";
    for line in 0.. {
        pusher.feed(&format!("reading {line}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The edges are redrawn with each push: a stale one reads as empty and is looked up again.
        let edges = client.find_all(Locator::Css(inbound)).await.unwrap();
        let label = match edges.first() {
            Some(edge) => edge.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if label.starts_with("← ") && label != "← 0" {
            screenshot(&client, "network-title", "network-inbound-link").await;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no edge for the publisher's inbound link: {:?}",
            texts(&client, "link-edge").await
        );
    }
    assert!(pusher.finish_input().success());
    click(&client, "[aria-label='unsubscribe inbound']").await;
    wait_texts(&client, "no inbound subscription", "subscription", |t| {
        !t.iter().any(|s| s.starts_with("inbound"))
    })
    .await;
    // Messages out show in the overview's rate within a few pushes.
    wait_texts(&client, "a rate out", "rate-out", |t| {
        t.len() == 1 && t[0] != "–"
    })
    .await;

    // A peer's detail: its services and its host's IP history (alpha reports from 127.0.0.2).
    legacy_report("alpha", "127.0.0.2", dynip_port);
    let alpha_node = "//*[@data-testid='peer'][.//*[local-name()='text'][contains(., 'alpha')]]";
    let deadline = Instant::now() + PATIENCE;
    loop {
        click_at(&client, Locator::XPath(alpha_node)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if texts(&client, "detail-ip")
            .await
            .iter()
            .any(|ip| ip.starts_with("127.0.0.2"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alpha's detail never showed its IP history"
        );
    }
    assert_eq!(texts(&client, "detail-name").await, ["alpha"]);
    let services = texts(&client, "detail-service").await;
    assert!(
        services
            .iter()
            .any(|s| s.contains("web") && s.contains(":8080")),
        "{services:?}"
    );
    assert_eq!(texts(&client, "detail-kind").await, ["herald"]);
    assert_eq!(texts(&client, "detail-topics").await, ["news"]);
    // Its software: its answer to `info`, asked with a click.
    click(&client, "[data-testid=detail-ask-info]").await;
    wait_texts(&client, "alpha's software", "detail-software", |t| {
        t.len() == 1 && t[0].starts_with("herald 0.")
    })
    .await;

    // Filter, sort, pause and clear, as a user does them.
    fill(&client, "peer-filter", "alp").await;
    wait_texts(&client, "the filtered peers", "peer-name", |t| {
        t == ["alpha"]
    })
    .await;
    // Backspaces, as a user empties the field (WebDriver's clear fires no input event).
    client
        .find(Locator::Css("[data-testid=peer-filter]"))
        .await
        .unwrap()
        .send_keys("\u{E003}\u{E003}\u{E003}")
        .await
        .unwrap();
    click(&client, "[data-testid=peer-sort] option[value=state]").await;
    wait_texts(&client, "every peer again", "peer-name", |t| t.len() >= 2).await;
    fill(&client, "subscribe-topic", "news").await;
    click(&client, "[data-testid=subscribe-button]").await;
    wait_texts(&client, "the subscription", "subscription", |t| {
        t.iter().any(|s| s.starts_with("news"))
    })
    .await;
    click(&client, "[data-testid=feed-pause]").await;
    fill(&client, "publish-body", "while paused").await;
    click(&client, "[data-testid=publish-button]").await;
    wait_texts(&client, "a held message", "feed-pause", |t| {
        t.len() == 1 && t[0].starts_with("Resume (") && !t[0].starts_with("Resume (0")
    })
    .await;
    assert!(!texts(&client, "feed-body")
        .await
        .iter()
        .any(|b| b == "while paused"));
    click(&client, "[data-testid=feed-pause]").await;
    wait_texts(&client, "the held message shown", "feed-body", |t| {
        t.iter().any(|b| b == "while paused")
    })
    .await;
    click(&client, "[data-testid=feed-clear]").await;
    wait_texts(&client, "an empty feed", "feed-body", |t| t.is_empty()).await;

    // Screenshots for the README: 1280 px (light), 360 px.
    window_screenshot(&client, 1280, 1600, "dashboard-1280-light").await;
    window_screenshot(&client, 360, 1600, "dashboard-360").await;
    let overflow = figure(
        &client,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await;
    assert_eq!(overflow, 0.0, "the page is wider than 360 px");
    client.set_window_size(1280, 1800).await.unwrap();

    // A busy topic: 5,000 messages/s for 4 s on a topic the page subscribed to. The page keeps responding:
    // the longest main-thread task (long-task API, tasks over 50 ms) and the longest gap between frames are
    // printed, and a keystroke in the peers filter is timed until the table shows it.
    let alone = alone_on_the_machine().await;
    fill(&client, "subscribe-topic", "load").await;
    click(&client, "[data-testid=subscribe-button]").await;
    wait_texts(&client, "the load subscription", "subscription", |t| {
        t.iter().any(|s| s.starts_with("load"))
    })
    .await;
    client
        .execute(
            "window.__longest = 0; window.__longTasks = 0; window.__maxGap = 0;
             new PerformanceObserver(list => { for (const e of list.getEntries()) {
                 window.__longTasks++; window.__longest = Math.max(window.__longest, e.duration); } })
                 .observe({ type: 'longtask' });
             let last = performance.now();
             const frame = now => { window.__maxGap = Math.max(window.__maxGap, now - last); last = now;
                 if (!window.__stopFrames) requestAnimationFrame(frame); };
             requestAnimationFrame(frame);",
            Vec::new(),
        )
        .await
        .unwrap();
    let mut publisher = herald_command(&state, group, &["publish", "load", "-", "--wait", "1.5"]);
    publisher.stdin(Stdio::piped());
    let mut publisher = Running::start(publisher);
    let load_started = Instant::now();
    let sent = tokio::task::block_in_place(|| {
        // The publisher learns its subscriber first (its --wait), then lines are published as they come.
        std::thread::sleep(Duration::from_millis(1500));
        let mut sent = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            // 50 messages every 10 ms: 5,000 a second.
            let due = (start.elapsed().as_millis() as u64 / 10 + 1) * 50;
            while sent < due {
                publisher.feed(&format!("{{\"reading\": {sent}, \"unit\": \"C\"}}"));
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        sent
    });
    let keystroke = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const input = document.querySelector('[data-testid=peer-filter]');
             const t0 = performance.now();
             input.value = 'brav'; input.dispatchEvent(new Event('input', { bubbles: true }));
             const check = () => {
                 const names = [...document.querySelectorAll('[data-testid=peer-name]')].map(e => e.textContent);
                 if (names.length === 1 && names[0] === 'bravo') { done(performance.now() - t0); }
                 else { requestAnimationFrame(check); }
             };
             check();",
            Vec::new(),
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(publisher.finish_input().success());
    let longest = figure(&client, "return window.__longest;").await;
    let long_tasks = figure(&client, "return window.__longTasks;").await;
    let max_gap = figure(
        &client,
        "window.__stopFrames = true; return window.__maxGap;",
    )
    .await;
    let counts = texts(&client, "feed-counts").await;
    println!(
        "dashboard under load: {sent} messages in {:.1} s (5,000/s); longest main-thread task {longest:.0} ms \
         ({long_tasks} tasks over 50 ms); longest gap between frames {max_gap:.0} ms; keystroke to filtered \
         table {keystroke:.0} ms; feed: {counts:?}",
        load_started.elapsed().as_secs_f64() - 1.5
    );
    drop(alone);
    assert!(
        longest < 500.0,
        "a main-thread task took {longest} ms under load"
    );
    assert!(
        keystroke < 500.0,
        "a keystroke took {keystroke} ms to show under load"
    );
    wait_texts(&client, "the feed's bound and skips", "feed-counts", |t| {
        t.len() == 1 && t[0].contains("kept (at most 500)") && t[0].contains("skipped")
    })
    .await;

    // The node restarts: the page reconnects by itself and says so.
    hub_node.stop();
    wait_texts(&client, "the lost connection", "connection-state", |t| {
        t.len() == 1 && t[0].starts_with("Disconnected")
    })
    .await;
    let _hub_again = hub(&state, group, &bridge, &dynip, &["--heartbeat", "200"]);
    wait_texts(&client, "the reconnection", "reconnected", |t| {
        t.len() == 1 && t[0].contains("reconnected")
    })
    .await;
    wait_texts(
        &client,
        "the live connection again",
        "connection-state",
        |t| t == ["Live"],
    )
    .await;
    client.close().await.unwrap();

    // Dark mode (prefers-color-scheme) in a browser that asks for it.
    let dark_profile = TempDir::new("overview-dark-profile");
    let dark = driver
        .browser_with(
            &dark_profile,
            &[
                "--force-dark-mode",
                "--blink-settings=preferredColorScheme=0",
            ],
        )
        .await;
    dark.goto(&format!("http://{bridge}/")).await.unwrap();
    wait_texts(&dark, "alpha and bravo", "peer-name", |t| {
        t.iter().any(|n| n == "alpha") && t.iter().any(|n| n == "bravo")
    })
    .await;
    let is_dark = dark
        .execute(
            "return window.matchMedia('(prefers-color-scheme: dark)').matches;",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        is_dark.as_bool(),
        Some(true),
        "the browser did not ask for dark"
    );
    window_screenshot(&dark, 1280, 1600, "dashboard-1280-dark").await;
    dark.close().await.unwrap();
}

/// The bridge's count of refused tokens (`GET /metrics` with the right token, by hand).
fn refused_tokens(bridge: &str, token: &str) -> u64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(bridge).unwrap();
    write!(
        stream,
        "GET /metrics?token={token} HTTP/1.1\r\nHost: {bridge}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("herald_bridge_refused_token "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A bridge with an access token: the page without one shows the token prompt, a wrong token is refused
/// (and says so), the right one connects; a token in the page's URL is taken, kept for the tab and removed
/// from the address bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_prompt_accepts_the_token_and_shows_a_refusal() {
    let _sharing = sharing_the_machine().await;
    let state = TempDir::new("token-state");
    let group = 20_000 + ((std::process::id() + 12_007) % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let dynip = format!("127.0.0.1:{}", free_udp_port());
    let token_file = state.join("bridge-token");
    std::fs::write(&token_file, "s3cret-token-of-the-lan\n").unwrap();
    let _hub = hub(
        &state,
        group,
        &bridge,
        &dynip,
        &["--bridge-token-file", &token_file],
    );
    let driver = Driver::start();
    let profile = TempDir::new("token-profile");
    let client = driver.browser(&profile).await;
    wait_listening(&bridge).await;
    client.goto(&format!("http://{bridge}/")).await.unwrap();
    wait_texts(&client, "the refusal", "token-refused", |t| t.len() == 1).await;
    wait_texts(&client, "the refused state", "connection-state", |t| {
        t.len() == 1 && t[0].contains("refused the access token")
    })
    .await;
    let refused = refused_tokens(&bridge, "s3cret-token-of-the-lan");
    fill(&client, "token-input", "wrong").await;
    click(&client, "[data-testid=token-button]").await;
    // The wrong token is refused at the WebSocket and at the page's probe of /metrics.
    let deadline = Instant::now() + PATIENCE;
    while refused_tokens(&bridge, "s3cret-token-of-the-lan") < refused + 2 {
        assert!(Instant::now() < deadline, "the wrong token was never tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_texts(&client, "the prompt again", "token-refused", |t| {
        t.len() == 1
    })
    .await;
    wait_texts(
        &client,
        "the wrong token's refusal",
        "connection-state",
        |t| t.len() == 1 && t[0].contains("refused the access token"),
    )
    .await;
    fill(&client, "token-input", "s3cret-token-of-the-lan").await;
    click(&client, "[data-testid=token-button]").await;
    wait_texts(&client, "the live connection", "connection-state", |t| {
        t == ["Live"]
    })
    .await;
    assert!(texts(&client, "token-prompt").await.is_empty());

    // From the URL: taken, and gone from the address bar; a reload still connects (session storage).
    let fresh_profile = TempDir::new("token-url-profile");
    let fresh = driver.browser(&fresh_profile).await;
    fresh
        .goto(&format!("http://{bridge}/?token=s3cret-token-of-the-lan"))
        .await
        .unwrap();
    wait_texts(&fresh, "the live connection", "connection-state", |t| {
        t == ["Live"]
    })
    .await;
    let url = fresh.current_url().await.unwrap();
    assert!(!url.as_str().contains("token"), "{url}");
    fresh.refresh().await.unwrap();
    wait_texts(
        &fresh,
        "the live connection after a reload",
        "connection-state",
        |t| t == ["Live"],
    )
    .await;
    fresh.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_an_ip_log_says_so_plainly_in_a_peers_detail() {
    let _sharing = sharing_the_machine().await;
    let state = TempDir::new("no-iplog-state");
    let group = 20_000 + ((std::process::id() + 15_013) % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let dist = built_dashboard();
    let _node = herald(
        &state,
        group,
        &[
            "node",
            "--name",
            "loner",
            "--bridge",
            &bridge,
            "--dashboard-dir",
            &dist,
        ],
    );
    let driver = Driver::start();
    let profile = TempDir::new("no-iplog-profile");
    let client = driver.browser(&profile).await;
    open_live(&client, &bridge).await;
    // The node's own peer in the graph: its detail asks for its host's IP history, which the node cannot give.
    let own = "//*[@data-testid='peer'][.//*[local-name()='text'][contains(., 'loner')]]";
    click_at(&client, Locator::XPath(own)).await;
    wait_texts(&client, "the plain note", "detail-no-iplog", |t| {
        t == ["no IP log on this node"]
    })
    .await;
    wait_texts(&client, "the history's note", "history-no-iplog", |t| {
        t == ["no IP log on this node"]
    })
    .await;
    assert!(texts(&client, "action-error").await.is_empty());
    client.close().await.unwrap();
}
