//! The sites benchmark (`herald-bench sites`): two "sites" on loopback (different multicast group ports)
//! joined through one local `nats-server`, each site's gateway a process of its own (`herald-bench
//! site-gateway`, so its CPU time is its own). Measured in the same run:
//! - cross-site 1 → 1 pub/sub throughput: a publisher node at site A in this process (lossless, `block`), a
//!   subscriber node at site B in a process of its own ([`super::site_subscriber`]);
//! - beside it a plain NATS client pair through the same server, laid out the same way (as peers-bench's NATS
//!   mode): a client publishing from this process, a subscriber process;
//! - cross-site ask p50/p99, a Herald LAN ask p50 at site B, and NATS request/reply (in this process).

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::cpu_time;
use super::pubsub_processes::{unix_ns, SubscriberProcess};
use super::site_subscriber::{
    node_config as config, SiteSubscriberFigures, NATS_SUBSCRIPTION_CAPACITY, TOPIC, WARM,
};
use crate::node::Node;
use crate::sites::sender_headers;
use crate::sites::{SiteConfig, SiteGateway};
use crate::{IncomingQuestion, Payload};

/// How long setting up (processes, discovery across the sites) may take.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// How long a subscriber process may take to report once the timed messages are published.
const RUN_PATIENCE: Duration = Duration::from_secs(300);

/// Figures of one message size.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Payload bytes.
    pub size: usize,
    /// Messages published.
    pub messages: u64,
    /// Herald across the sites: delivered per second (first publish to last delivery).
    pub herald_msgs_per_s: f64,
    /// Herald: published but not delivered (dropped by NATS as a slow consumer, or a backlog bound).
    pub herald_lost: u64,
    /// Plain NATS client pair: delivered per second.
    pub nats_msgs_per_s: f64,
    /// Plain NATS: lost.
    pub nats_lost: u64,
    /// Herald / NATS.
    pub ratio: f64,
    /// CPU time (user + system) per delivered message, gateway A (publishing side), µs.
    pub gateway_a_cpu_us_per_msg: f64,
    /// CPU time per delivered message, gateway B (subscribing side), µs.
    pub gateway_b_cpu_us_per_msg: f64,
    /// CPU time per delivered message of everything on the Herald path (the bench process with the publisher
    /// node, both gateways, `nats-server` and the subscriber process), µs.
    pub herald_total_cpu_us_per_msg: f64,
    /// CPU time per delivered message of everything on the plain pair's path (the publishing bench process,
    /// `nats-server` and the subscriber process), µs.
    pub nats_total_cpu_us_per_msg: f64,
    /// Every path of this size, each process's share: across sites, the plain pair, and the two hops the path
    /// across sites is made of (the NATS pair sending Herald's sender header, a Herald LAN pair).
    pub paths: Vec<PathFigures>,
}

/// One path of a size's runs.
#[derive(Debug, Clone, Serialize)]
pub struct PathFigures {
    /// What it is: `across sites`, `plain NATS pair`, `NATS pair with Herald's header` (the plain pair
    /// sending the `Herald-From` header a gateway sends with every message: the NATS hop of the path across
    /// sites) or `Herald LAN pair` (a publisher node and a subscriber node on one LAN: each site's hop).
    pub path: &'static str,
    /// Delivered per second (first publish to last delivery).
    pub msgs_per_s: f64,
    /// Published but not delivered.
    pub lost: u64,
    /// CPU time (user + system) per delivered message of each process on the path, in path order, µs.
    pub cpu_us_per_msg: Vec<ProcessCpu>,
    /// Their sum, µs.
    pub total_cpu_us_per_msg: f64,
}

/// One process's CPU time per delivered message.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessCpu {
    /// Its part on the path (`publisher node`, `gateway A`, `nats-server`, ...).
    pub process: &'static str,
    /// µs per delivered message.
    pub us: f64,
}

/// Every figure of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SitesFigures {
    /// Throughput per message size.
    pub throughput: Vec<Throughput>,
    /// Round trips per ask figure.
    pub asks: u64,
    /// Herald ask across the sites (B → A): p50, µs.
    pub ask_p50_us: f64,
    /// Herald ask across the sites: p99, µs.
    pub ask_p99_us: f64,
    /// NATS request/reply (plain clients): p50, µs.
    pub nats_request_p50_us: f64,
    /// NATS request/reply: p99, µs.
    pub nats_request_p99_us: f64,
    /// Herald ask on one LAN (site B): p50, µs.
    pub lan_ask_p50_us: f64,
    /// The goal: 1.3 × NATS p50 + 2 × LAN ask p50, µs.
    pub ask_goal_p50_us: f64,
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The gateway process's side (`herald-bench site-gateway`): a node on `port` that is `site`'s gateway;
/// says `ready` (through `say`, which prints a line where the benchmark reads it), runs until its standard
/// input closes.
pub async fn gateway(
    site: &str,
    port: u16,
    nats: &str,
    say: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let node = Arc::new(Node::start(config(&format!("gw-{site}"), port)).await?);
    let mut site_config = SiteConfig::new(site, nats);
    site_config.heartbeat = Duration::from_millis(300);
    // The same bound as the plain pair's subscriber: each NATS subscription may queue a whole run.
    site_config.subscription_capacity = NATS_SUBSCRIPTION_CAPACITY;
    let gateway = SiteGateway::start(node.clone(), site_config).await?;
    say("ready");
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
    gateway.shutdown().await;
    if let Ok(node) = Arc::try_unwrap(node) {
        node.shutdown().await;
    }
    Ok(())
}

async fn spawn_gateway(site: &str, port: u16, nats: &str) -> anyhow::Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "site-gateway",
            "--site",
            site,
            "--port",
            &port.to_string(),
            "--nats",
            nats,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(START_PATIENCE, lines.next_line()).await;
    anyhow::ensure!(
        matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"),
        "gateway {site} did not start"
    );
    Ok(child)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1e6
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_PATIENCE;
    while !check() {
        anyhow::ensure!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Runs the benchmark: `messages` per size in `sizes`, `asks` round trips per ask figure; the group ports
/// of the two sites are `port` and `port + 1`, the LAN pair's `port + 2`.
pub async fn run(
    sizes: &[usize],
    messages: u64,
    asks: u64,
    port: u16,
) -> anyhow::Result<SitesFigures> {
    let nats_port = free_port()?;
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let server = Server(
        std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &nats_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start nats-server ({e}): `cargo xtask setup` installs it")
            })?,
    );
    let deadline = Instant::now() + START_PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (port_a, port_b) = (port, port + 1);
    let gw_a = spawn_gateway("a", port_a, &nats).await?;
    let gw_b = spawn_gateway("b", port_b, &nats).await?;
    let publisher = Node::start(config("pub", port_a)).await?;
    publisher.answer_with(|q: IncomingQuestion| async move { Ok(q.payload) });
    let asker = Node::start(config("asker", port_b)).await?;
    let echo_b = Node::start(config("echo", port_b)).await?;
    echo_b.answer_with(|q: IncomingQuestion| async move { Ok(q.payload) });
    wait_until("site a's publisher is known at site b", || {
        asker.peer("pub@a").is_some()
    })
    .await?;

    let client = async_nats::ConnectOptions::new().connect(&nats).await?;
    // The LAN pair's publisher, on a group port of its own (no gateway there).
    let port_lan = port_b + 1;
    let lan_publisher = Node::start(config("lan-pub", port_lan)).await?;
    let header = sender_headers("a", "pub", Some(publisher.id()));
    let (me, nats_server) = (std::process::id(), server.0.id());
    let (gw_a_pid, gw_b_pid) = (gw_a.id().unwrap_or(0), gw_b.id().unwrap_or(0));
    let mut throughput = Vec::new();
    for &size in sizes {
        let payload = vec![b'x'; size];
        anyhow::ensure!(
            payload != WARM,
            "a {size} B payload reads as the warm-up one"
        );
        let bytes = bytes::Bytes::from(payload.clone());

        // Herald across the sites: this process's publisher at A, a subscriber process at B.
        let processes = [
            ("publisher node", me),
            ("gateway A", gw_a_pid),
            ("nats-server", nats_server),
            ("gateway B", gw_b_pid),
        ];
        let herald = node_run(&publisher, port_b, &processes, messages, &payload).await?;
        // The plain NATS pair, and the same pair sending Herald's sender header with every message (the
        // NATS hop the gateways make); the publisher in this process, a subscriber process.
        let plain = client_run(&client, &nats, me, nats_server, messages, &bytes, None).await?;
        let headed = client_run(
            &client,
            &nats,
            me,
            nats_server,
            messages,
            &bytes,
            Some(&header),
        )
        .await?;
        // A Herald LAN pair: one hop between two nodes, as each site's end of the path makes.
        let lan = node_run(
            &lan_publisher,
            port_lan,
            &[("publisher node", me)],
            messages,
            &payload,
        )
        .await?;

        let across = herald.figures("across sites", messages);
        let pair = plain.figures("plain NATS pair", messages);
        throughput.push(Throughput {
            size,
            messages,
            herald_msgs_per_s: across.msgs_per_s,
            herald_lost: across.lost,
            nats_msgs_per_s: pair.msgs_per_s,
            nats_lost: pair.lost,
            ratio: across.msgs_per_s / pair.msgs_per_s.max(1e-9),
            gateway_a_cpu_us_per_msg: across.cpu_us_per_msg[1].us,
            gateway_b_cpu_us_per_msg: across.cpu_us_per_msg[3].us,
            herald_total_cpu_us_per_msg: across.total_cpu_us_per_msg,
            nats_total_cpu_us_per_msg: pair.total_cpu_us_per_msg,
            paths: vec![
                across,
                pair,
                headed.figures("NATS pair with Herald's header", messages),
                lan.figures("Herald LAN pair", messages),
            ],
        });
    }

    let timed = |n: u64| Vec::with_capacity(n as usize);
    let question = vec![b'q'; 64];
    let mut cross = timed(asks);
    let mut lan = timed(asks);
    for i in 0..asks + 100 {
        let t = Instant::now();
        let outcome = asker
            .ask("pub@a", question.clone(), Duration::from_secs(5))
            .await?;
        anyhow::ensure!(
            outcome["pub@a"].payload().is_some(),
            "cross-site ask: {outcome:?}"
        );
        if i >= 100 {
            cross.push(t.elapsed());
        }
        let t = Instant::now();
        let outcome = asker
            .ask("echo", question.clone(), Duration::from_secs(5))
            .await?;
        anyhow::ensure!(outcome["echo"].payload().is_some(), "LAN ask: {outcome:?}");
        if i >= 100 {
            lan.push(t.elapsed());
        }
    }
    let mut responder = client.subscribe("bench.echo").await?;
    let replier = client.clone();
    let echo = tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                let _ = replier.publish(reply, m.payload).await;
            }
        }
    });
    let mut plain = timed(asks);
    for i in 0..asks + 100 {
        let t = Instant::now();
        client
            .request("bench.echo", Payload(question.clone()).0.into())
            .await?;
        if i >= 100 {
            plain.push(t.elapsed());
        }
    }
    echo.abort();
    for v in [&mut cross, &mut lan, &mut plain] {
        v.sort();
    }
    for mut gateway in [gw_a, gw_b] {
        // Its standard input closed: it leaves gracefully (killed if it takes too long).
        drop(gateway.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), gateway.wait()).await;
    }
    publisher.shutdown().await;
    asker.shutdown().await;
    lan_publisher.shutdown().await;
    echo_b.shutdown().await;
    let nats_p50 = percentile(&plain, 0.5);
    let lan_p50 = percentile(&lan, 0.5);
    Ok(SitesFigures {
        throughput,
        asks,
        ask_p50_us: percentile(&cross, 0.5),
        ask_p99_us: percentile(&cross, 0.99),
        nats_request_p50_us: nats_p50,
        nats_request_p99_us: percentile(&plain, 0.99),
        lan_ask_p50_us: lan_p50,
        ask_goal_p50_us: 1.3 * nats_p50 + 2.0 * lan_p50,
    })
}

/// The plain pair's subject.
const PLAIN_SUBJECT: &str = "bench.plain";

/// Starts a subscriber process (`herald-bench site-subscriber` with `args`) counting `messages`.
fn spawn_subscriber(args: &[&str], messages: u64) -> anyhow::Result<SubscriberProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("site-subscriber")
        .args(args)
        .args(["--messages", &messages.to_string()]);
    SubscriberProcess::spawn(&mut command)
}

/// One timed run of a path, as its subscriber process saw it.
struct PathRun {
    /// Timed messages delivered.
    delivered: u64,
    /// Delivered per second, from the first publish to the last delivery.
    msgs_per_s: f64,
    /// CPU time (user + system) of each process on the path, the subscriber last.
    cpu: Vec<(&'static str, Duration)>,
}

impl PathRun {
    /// Its figures as `path`, of `messages` published.
    fn figures(&self, path: &'static str, messages: u64) -> PathFigures {
        let per_message = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.delivered.max(1) as f64;
        let cpu_us_per_msg: Vec<ProcessCpu> = self
            .cpu
            .iter()
            .map(|&(process, cpu)| ProcessCpu {
                process,
                us: per_message(cpu),
            })
            .collect();
        PathFigures {
            path,
            msgs_per_s: self.msgs_per_s,
            lost: messages.saturating_sub(self.delivered),
            total_cpu_us_per_msg: cpu_us_per_msg.iter().map(|p| p.us).sum(),
            cpu_us_per_msg,
        }
    }
}

/// Times `publisher` (a node in this process, one of `processes`) publishing `messages` of `payload` to a
/// Herald subscriber process on group port `port`.
async fn node_run(
    publisher: &Node,
    port: u16,
    processes: &[(&'static str, u32)],
    messages: u64,
    payload: &[u8],
) -> anyhow::Result<PathRun> {
    timed_run(
        &["--port", &port.to_string()],
        messages,
        processes,
        "subscriber node",
        || async {
            publisher.publish(TOPIC, WARM).await?;
            Ok(())
        },
        || async {
            for _ in 0..messages {
                publisher.publish(TOPIC, payload).await?;
            }
            Ok(())
        },
    )
    .await
}

/// Times `client` (in this process, pid `me`) publishing `messages` of `payload`, with `headers` when given,
/// through `nats-server` (pid `server`) to a plain subscriber process.
async fn client_run(
    client: &async_nats::Client,
    url: &str,
    me: u32,
    server: u32,
    messages: u64,
    payload: &bytes::Bytes,
    headers: Option<&async_nats::HeaderMap>,
) -> anyhow::Result<PathRun> {
    timed_run(
        &["--nats", url, "--subject", PLAIN_SUBJECT],
        messages,
        &[("publisher", me), ("nats-server", server)],
        "subscriber",
        || async {
            client.publish(PLAIN_SUBJECT, WARM.into()).await?;
            client.flush().await?;
            Ok(())
        },
        || async {
            for _ in 0..messages {
                match headers {
                    Some(headers) => {
                        client
                            .publish_with_headers(PLAIN_SUBJECT, headers.clone(), payload.clone())
                            .await?
                    }
                    None => client.publish(PLAIN_SUBJECT, payload.clone()).await?,
                }
            }
            Ok(client.flush().await?)
        },
    )
    .await
}

/// Times one path: starts a subscriber process (`site-subscriber` with `args`), sends warm-up messages with
/// `warm` until it says `warm` (so links and subscriptions are in place before the clock starts), then runs
/// `publish` (every timed message) and reads the subscriber's figures. `processes` are the other processes on
/// the path (named, with their pids), whose CPU time is counted; `subscriber` names the subscriber's part.
async fn timed_run<W, WarmUp, P, Publish>(
    args: &[&str],
    messages: u64,
    processes: &[(&'static str, u32)],
    subscriber: &'static str,
    mut warm: W,
    publish: P,
) -> anyhow::Result<PathRun>
where
    W: FnMut() -> WarmUp,
    WarmUp: std::future::Future<Output = anyhow::Result<()>>,
    P: FnOnce() -> Publish,
    Publish: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut sub = spawn_subscriber(args, messages)?;
    sub.expect("ready").await?;
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        warm().await?;
        match sub.next_line(Duration::from_millis(500)).await {
            Ok(line) if line.trim() == "warm" => break,
            Ok(line) => anyhow::bail!("a subscriber said {line:?}, not \"warm\""),
            Err(_) if Instant::now() < deadline => continue,
            Err(err) => return Err(err.context("no warm-up message reached the subscriber")),
        }
    }
    let cpu = || {
        processes
            .iter()
            .map(|&(_, pid)| cpu_time(pid))
            .collect::<Vec<_>>()
    };
    let before = cpu();
    let start_ns = unix_ns();
    publish().await?;
    let line = sub.next_line(RUN_PATIENCE).await?;
    let figures: SiteSubscriberFigures = serde_json::from_str(&line)?;
    let mut spent: Vec<(&'static str, Duration)> = processes
        .iter()
        .zip(cpu().into_iter().zip(before))
        .map(|(&(name, _), (after, before))| (name, after.saturating_sub(before)))
        .collect();
    spent.push((subscriber, Duration::from_micros(figures.cpu_us)));
    let seconds = figures.last_ns.saturating_sub(start_ns) as f64 / 1e9;
    Ok(PathRun {
        delivered: figures.delivered,
        msgs_per_s: figures.delivered as f64 / seconds.max(1e-9),
        cpu: spent,
    })
}
