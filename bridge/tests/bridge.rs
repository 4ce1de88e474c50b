//! The bridge alone, over real sockets: a stand-in node answers its requests, real WebSocket clients
//! (tokio-tungstenite) connect. Snapshot and events, one reply per request, malformed input, the lag policy
//! (close code 1008), pings, the message size limit (1009), access checks, `/metrics`, the page shown when
//! the dashboard is not built, and embedded files sent in the encoding a client accepts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use herald_bridge::{Audience, Bridge, BridgeConfig, ToNode};
use herald_core::bridge::{
    BridgeEvent, CommandError, CommandOk, CommandResult, PeerInfo, PeerState, Snapshot, Stats,
};
use herald_core::{NodeId, PeerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Generous: these wait on events, never time them.
const PATIENCE: Duration = Duration::from_secs(30);

fn config() -> BridgeConfig {
    let mut config = BridgeConfig::new("127.0.0.1:0".parse().unwrap());
    config.dashboard_dir = None;
    config.assets = &[];
    config
}

fn this_node() -> PeerInfo {
    PeerInfo {
        node_id: NodeId::from_bytes([7; 16]),
        name: "stand-in".into(),
        kind: PeerKind::Herald,
        addr: "127.0.0.1".parse().unwrap(),
        tcp: None,
        services: BTreeMap::new(),
        topics: Vec::new(),
        via: None,
        site: None,
        txt: Default::default(),
        first_seen_ms: 1,
        last_seen_ms: 2,
        state: PeerState::Live,
    }
}

/// Starts a bridge with a stand-in node: `peers` is answered with no peers, `stats` with one counter, and
/// anything else as unavailable.
async fn start(config: BridgeConfig) -> Bridge {
    let (bridge, mut requests) = Bridge::start(config).await.expect("bridge starts");
    let node_side = bridge.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            match request {
                ToNode::Snapshot { reply, .. } => {
                    let _ = reply.send(Snapshot {
                        node: this_node(),
                        peers: Vec::new(),
                        subscriptions: Vec::new(),
                        recent: node_side.recent(),
                    });
                }
                ToNode::Stats { reply } => {
                    let mut stats = Stats::default();
                    stats.counters.insert("node.test".into(), 1);
                    let _ = reply.send(stats);
                }
                ToNode::ClientGone { .. } => {}
                ToNode::Command { command, reply, .. } => {
                    let result = match command {
                        herald_core::bridge::BridgeCommand::Peers => {
                            CommandResult::Ok(CommandOk::Peers { peers: Vec::new() })
                        }
                        _ => CommandResult::Error(CommandError::Unavailable {
                            message: "stand-in".into(),
                        }),
                    };
                    reply.send(result).await;
                }
            }
        }
    });
    bridge
}

async fn connect(addr: SocketAddr, query: &str, origin: Option<&str>) -> Result<Client, WsError> {
    let mut request = format!("ws://{addr}/ws{query}").into_client_request()?;
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    let (client, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(client)
}

/// The next event, skipping pings and `stats`.
async fn next_event(client: &mut Client) -> BridgeEvent {
    let text = tokio::time::timeout(PATIENCE, async {
        loop {
            let message = client
                .next()
                .await
                .expect("the connection is open")
                .expect("a readable message");
            if let Message::Text(text) = message {
                return text;
            }
        }
    })
    .await
    .expect("an event in time");
    BridgeEvent::from_json(&text).expect("the bridge sends valid events")
}

async fn request(client: &mut Client, text: &str) -> (Option<u64>, CommandResult) {
    request_text(client, text.to_owned()).await
}

async fn request_text(client: &mut Client, text: String) -> (Option<u64>, CommandResult) {
    client.send(Message::text(text)).await.unwrap();
    loop {
        if let BridgeEvent::Reply(reply) = next_event(client).await {
            return (reply.id, reply.result);
        }
    }
}

fn error(n: u64) -> BridgeEvent {
    BridgeEvent::NodeError {
        context: "test".into(),
        message: format!("{n:08}"),
    }
}

fn error_number(event: &BridgeEvent) -> Option<u64> {
    match event {
        BridgeEvent::NodeError { context, message } if context == "test" => {
            message.get(..8)?.parse().ok()
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_client_gets_a_snapshot_then_live_events_and_one_reply_per_request() {
    let bridge = start(config()).await;
    bridge.emit(&Audience::All, &error(1));
    let mut client = connect(bridge.local_addr(), "", None).await.unwrap();
    let BridgeEvent::Snapshot(snapshot) = next_event(&mut client).await else {
        panic!("the first event is not a snapshot");
    };
    assert_eq!(snapshot.node.name, "stand-in");
    assert_eq!(snapshot.recent, [error(1)]);
    bridge.emit(&Audience::All, &error(2));
    assert_eq!(next_event(&mut client).await, error(2));

    let (id, result) = request(&mut client, r#"{"id": 7, "type": "peers"}"#).await;
    assert_eq!(id, Some(7));
    assert_eq!(
        result,
        CommandResult::Ok(CommandOk::Peers { peers: Vec::new() })
    );
    // Malformed requests get an error reply, with the id when one can be read; the connection stays up.
    for (text, want_id) in [
        ("not json", None),
        (r#"{"id": 8, "type": "fly"}"#, Some(8)),
        (r#"{"type": "peers"}"#, None),
        (r#"{"id": 9, "type": "publish", "topic": "t"}"#, Some(9)),
    ] {
        let (id, result) = request(&mut client, text).await;
        assert_eq!(id, want_id, "{text}");
        assert!(
            matches!(
                result,
                CommandResult::Error(CommandError::BadRequest { .. })
            ),
            "{text}: {result:?}"
        );
    }
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let BridgeEvent::Reply(reply) = next_event(&mut client).await else {
        panic!("no reply to a binary frame");
    };
    assert!(matches!(
        reply.result,
        CommandResult::Error(CommandError::BadRequest { .. })
    ));
    let (id, result) = request(&mut client, r#"{"id": 10, "type": "peers"}"#).await;
    assert_eq!(
        (id, result.clone()),
        (
            Some(10),
            CommandResult::Ok(CommandOk::Peers { peers: Vec::new() })
        )
    );
    let stats = bridge.stats().counters;
    assert_eq!(stats["bridge.bad_requests"], 5);
    assert_eq!(stats["bridge.commands"], 2);
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_told_exactly_what_it_missed_while_a_fast_one_gets_everything() {
    let mut config = config();
    config.client_queue = 16;
    config.lag_limit = Duration::from_secs(3600);
    let bridge = start(config).await;
    let mut slow = connect(bridge.local_addr(), "", None).await.unwrap();
    let mut fast = connect(bridge.local_addr(), "", None).await.unwrap();
    assert!(matches!(
        next_event(&mut slow).await,
        BridgeEvent::Snapshot(_)
    ));
    assert!(matches!(
        next_event(&mut fast).await,
        BridgeEvent::Snapshot(_)
    ));
    // Big events so that the slow client's socket buffers fill and its queue overflows.
    let filler = "x".repeat(16_000);
    let total = 6_000u64;
    let mut next = 0;
    while next < total {
        for _ in 0..8 {
            bridge.emit(
                &Audience::All,
                &BridgeEvent::NodeError {
                    context: "test".into(),
                    message: format!("{next:08}{filler}"),
                },
            );
            next += 1;
        }
        // The fast client keeps up: it reads each round before the next is sent.
        while let Some(n) = error_number(&next_event(&mut fast).await) {
            if n + 1 == next {
                break;
            }
        }
    }
    let dropped = bridge.stats().counters["bridge.events_dropped"];
    assert!(dropped > 0, "the slow client never fell behind");
    // Now the slow client reads: every event is either received, in order, or counted in a lag notice.
    let reader = tokio::spawn(async move {
        let (mut received, mut missed, mut last) = (0u64, 0u64, None);
        loop {
            match next_event(&mut slow).await {
                BridgeEvent::Lagged { missed: m } => missed += m,
                event => {
                    let Some(n) = error_number(&event) else {
                        continue;
                    };
                    assert!(
                        last.is_none_or(|l| n > l),
                        "out of order: {n} after {last:?}"
                    );
                    last = Some(n);
                    received += 1;
                    if n == total {
                        return (received, missed);
                    }
                }
            }
        }
    });
    // Once its queue has drained, a last event (which brings the final lag notice with it).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bridge.stats().counters["bridge.queued_events"] > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue never drained"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bridge.emit(&Audience::All, &error(total));
    let (received, missed) = reader.await.unwrap();
    assert!(received < total, "nothing was dropped");
    assert_eq!(received + missed, total + 1);
    assert_eq!(missed, dropped);
    assert_eq!(bridge.stats().counters["bridge.disconnected.slow"], 0);
    bridge.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stays_behind_past_the_lag_limit_is_disconnected() {
    let mut config = config();
    config.client_queue = 4;
    config.lag_limit = Duration::from_millis(200);
    let bridge = start(config).await;
    let mut slow = connect(bridge.local_addr(), "", None).await.unwrap();
    assert!(matches!(
        next_event(&mut slow).await,
        BridgeEvent::Snapshot(_)
    ));
    let big = BridgeEvent::NodeError {
        context: "test".into(),
        message: "x".repeat(60_000),
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bridge.stats().counters["bridge.disconnected.slow"] == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never disconnected");
        bridge.emit(&Audience::All, &big);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Its connection ends with 1008 (after what was already in flight).
    assert_eq!(closing_code(&mut slow).await, Some(1008));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bridge.clients() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client was not removed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bridge.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed() {
    let mut config = config();
    config.ping_interval = Duration::from_millis(300);
    let bridge = start(config).await;
    let mut alive = connect(bridge.local_addr(), "", None).await.unwrap();
    let mut silent = connect(bridge.local_addr(), "", None).await.unwrap();
    assert!(matches!(
        next_event(&mut silent).await,
        BridgeEvent::Snapshot(_)
    ));
    // `alive` keeps reading (its library answers pings) and tells each ping it sees; `silent` reads nothing
    // from now on, so never pongs.
    let (pinged, mut pings) = tokio::sync::mpsc::channel(16);
    let reading = tokio::spawn(async move {
        while let Some(Ok(message)) = alive.next().await {
            if message.is_ping() {
                let _ = pinged.try_send(());
            }
        }
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bridge.stats().counters["bridge.disconnected.silent"] == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent client was never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three more pings to the reading client: more than the two silent intervals that close a client, so it
    // would be gone by now if its pongs were not heard.
    while pings.try_recv().is_ok() {}
    for _ in 0..3 {
        tokio::time::timeout(PATIENCE, pings.recv())
            .await
            .expect("a ping in time")
            .expect("the reading client is open");
    }
    assert_eq!(bridge.stats().counters["bridge.disconnected.silent"], 1);
    assert_eq!(bridge.clients(), 1);
    drop(silent);
    reading.abort();
    bridge.shutdown().await;
}

#[tokio::test]
async fn the_token_and_the_origin_are_checked_on_upgrade() {
    let mut config = config();
    config.token = Some("0123456789abcdef-token".into());
    let bridge = start(config).await;
    let addr = bridge.local_addr();
    let status = |result: Result<Client, WsError>| match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("unexpected error {err}"),
        Ok(_) => 101,
    };
    assert_eq!(status(connect(addr, "", None).await), 401);
    assert_eq!(status(connect(addr, "?token=wrong", None).await), 401);
    let good = "?token=0123456789abcdef-token";
    assert_eq!(
        status(connect(addr, good, Some("http://evil.example")).await),
        403
    );
    let own = format!("http://localhost:{}", addr.port());
    assert_eq!(status(connect(addr, good, Some(&own)).await), 101);
    assert_eq!(status(connect(addr, good, None).await), 101);
    let stats = bridge.stats().counters;
    assert_eq!(stats["bridge.refused.token"], 2);
    assert_eq!(stats["bridge.refused.origin"], 1);
    // Off loopback a token is required to start at all.
    let open = BridgeConfig::new("0.0.0.0:0".parse().unwrap());
    assert!(Bridge::start(open).await.is_err());
    bridge.shutdown().await;
}

/// Reads until the connection ends; the close code the bridge sent, if it sent a closing frame.
async fn closing_code(client: &mut Client) -> Option<u16> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match client.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the connection ends")
}

#[tokio::test]
async fn a_message_of_the_limit_is_read_and_one_byte_more_closes_with_1009() {
    let limit = herald_core::bridge::MAX_WS_MESSAGE;
    assert_eq!(config().max_message, limit);
    let bridge = start(config()).await;
    let mut client = connect(bridge.local_addr(), "", None).await.unwrap();
    assert!(matches!(
        next_event(&mut client).await,
        BridgeEvent::Snapshot(_)
    ));
    // A request padded to exactly the limit is read and answered (the stand-in node refuses `subscribe`).
    let request = |size: usize| {
        let start = r#"{"id": 1, "type": "subscribe", "topic": ""#;
        let end = r#""}"#;
        format!("{start}{}{end}", "t".repeat(size - start.len() - end.len()))
    };
    let at_limit = request(limit);
    assert_eq!(at_limit.len(), limit);
    let (id, result) = request_text(&mut client, at_limit).await;
    assert_eq!(id, Some(1));
    assert!(
        matches!(
            result,
            CommandResult::Error(CommandError::Unavailable { .. })
        ),
        "{result:?}"
    );
    // One byte more: the connection is closed with 1009 (message too big).
    let _ = client.send(Message::text(request(limit + 1))).await;
    assert_eq!(closing_code(&mut client).await, Some(1009));
    bridge.shutdown().await;
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn metrics_and_the_page_for_an_unbuilt_dashboard() {
    let bridge = start(config()).await;
    let metrics = http_get(bridge.local_addr(), "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("herald_node_test 1\n"), "{metrics}");
    assert!(metrics.contains("herald_bridge_clients 0\n"), "{metrics}");
    let page = http_get(bridge.local_addr(), "/").await;
    assert!(page.starts_with("HTTP/1.1 503"), "{page}");
    assert!(page.contains("has not been built") && page.contains("cargo xtask web"));
    // The page says how to get a binary with the dashboard inside.
    assert!(page.contains("cargo xtask dist") && page.contains("HERALD_DASHBOARD_DIST"));
    bridge.shutdown().await;

    let dir = std::env::temp_dir().join(format!("herald-bridge-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>dashboard</p>").unwrap();
    let mut config = config();
    config.dashboard_dir = Some(dir.clone());
    config.token = Some("0123456789abcdef-token".into());
    let bridge = start(config).await;
    // Static files need no token; the SPA's routes fall back to index.html; metrics need the token.
    for path in ["/", "/peers"] {
        let page = http_get(bridge.local_addr(), path).await;
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("<p>dashboard</p>"),
            "{path}: {page}"
        );
    }
    assert!(http_get(bridge.local_addr(), "/metrics")
        .await
        .starts_with("HTTP/1.1 401"));
    let metrics = http_get(bridge.local_addr(), "/metrics?token=0123456789abcdef-token").await;
    assert!(metrics.starts_with("HTTP/1.1 200"));
    bridge.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A response read whole: status code, headers (names lowercase), body.
struct HttpResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// A file as the build script embeds it: its bytes and their gzip and brotli forms.
fn asset(path: &'static str, etag: &'static str, bytes: &[u8]) -> herald_bridge::dashboard::Asset {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    let mut br = Vec::new();
    brotli::BrotliCompress(
        &mut &bytes[..],
        &mut br,
        &brotli::enc::BrotliEncoderParams::default(),
    )
    .unwrap();
    herald_bridge::dashboard::Asset {
        path,
        etag,
        identity: leak(bytes.to_vec()),
        gzip: Some(leak(gz.finish().unwrap())),
        br: Some(leak(br)),
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap();
    out
}

#[tokio::test]
async fn embedded_files_are_sent_compressed_as_accepted_with_their_type_and_cache_policy() {
    let index = b"<!doctype html><p>the embedded dashboard</p>".repeat(20);
    let wasm: Vec<u8> = (0..40_000u32)
        .flat_map(|n| (n % 251).to_le_bytes())
        .collect();
    let wasm_name = "herald-dashboard-0123456789abcdef_bg.wasm";
    let assets: &'static [herald_bridge::dashboard::Asset] = Box::leak(Box::new([
        asset("index.html", "00000000000000aa", &index),
        asset(wasm_name, "00000000000000bb", &wasm),
    ]));
    let mut config = config();
    config.assets = assets;
    let bridge = start(config).await;
    let addr = bridge.local_addr();

    let wasm_path = format!("/{wasm_name}");
    for (accept, coding) in [
        (None, None),
        (Some("gzip"), Some("gzip")),
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br;q=0, gzip;q=0"), None),
    ] {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let got = http_request(addr, "GET", &wasm_path, &headers).await;
        assert_eq!(got.status, 200, "{accept:?}");
        assert_eq!(got.headers["content-type"], "application/wasm");
        assert_eq!(
            got.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(got.headers["vary"], "accept-encoding");
        assert_eq!(
            got.headers.get("content-encoding").map(String::as_str),
            coding
        );
        let body = match coding {
            Some("gzip") => gunzip(&got.body),
            Some("br") => unbrotli(&got.body),
            _ => got.body.clone(),
        };
        assert_eq!(body, wasm, "{accept:?}: the body decodes to the file");
        if coding.is_some() {
            assert!(got.body.len() < wasm.len() / 2, "{accept:?}: compressed");
        }
    }

    // index.html: revalidated every time; its entity tag gets a 304; the app's routes fall back to it.
    let page = http_request(addr, "GET", "/", &[("Accept-Encoding", "br")]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["cache-control"], "no-cache");
    assert_eq!(unbrotli(&page.body), index);
    let tag = page.headers["etag"].clone();
    let again = http_request(
        addr,
        "GET",
        "/",
        &[("Accept-Encoding", "br"), ("If-None-Match", &tag)],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Another encoding is another representation: the brotli tag does not validate the gzip one.
    let other = http_request(
        addr,
        "GET",
        "/",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &tag)],
    )
    .await;
    assert_eq!(other.status, 200);
    assert_eq!(gunzip(&other.body), index);
    let route = http_request(addr, "GET", "/peers", &[]).await;
    assert_eq!((route.status, route.body.clone()), (200, index.clone()));
    let head = http_request(addr, "HEAD", "/index.html", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        http_request(addr, "GET", "/missing.js", &[]).await.status,
        404
    );
    assert_eq!(http_request(addr, "POST", "/", &[]).await.status, 405);
    // The WebSocket and the counters are still the bridge's own.
    assert_eq!(http_request(addr, "GET", "/metrics", &[]).await.status, 200);
    bridge.shutdown().await;
}
