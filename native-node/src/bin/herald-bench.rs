//! `herald-bench`: Herald's benchmarks, printing figures (JSON lines with `--json`). Everything runs on
//! loopback.

use std::time::Duration;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: the nodes and gateways it measures allocate and free per message,
/// often on different threads, where glibc's malloc took a fifth of a site gateway's time (README, `herald-bench sites`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Herald's benchmarks (loopback only).
#[derive(Debug, Parser)]
#[command(name = "herald-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
    /// Print one JSON object per run.
    #[arg(long, global = true)]
    json: bool,
    /// The tokio runtime of this process (and of the pub/sub benchmark's subscriber processes):
    /// multi-thread (`#[tokio::main]`'s default) or current-thread.
    #[arg(long, global = true, default_value = "multi-thread")]
    runtime: herald_node::bench::Runtime,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// N nodes on loopback: convergence, leave and crash detection times, beacon bytes per second.
    Discovery {
        /// Node counts to run, one run each.
        #[arg(long, value_delimiter = ',', default_value = "10,50,200")]
        nodes: Vec<usize>,
        /// Heartbeat of every node (ms).
        #[arg(long, default_value_t = 1000)]
        heartbeat_ms: u64,
        /// Steady-state window for the bytes-per-second figure (s).
        #[arg(long, default_value_t = 3.0)]
        steady_secs: f64,
        /// Multicast group port on 127.0.0.1.
        #[arg(long, default_value_t = 27_268)]
        port: u16,
        /// Where multicast is blocked: each node on its own loopback address and group port, all found
        /// through one seed (the unicast mesh).
        #[arg(long)]
        seeds: bool,
    },
    /// One publisher to N subscriber nodes over loopback links: messages per second delivered.
    Pubsub {
        /// Subscriber nodes.
        #[arg(long, default_value_t = 8)]
        subscribers: usize,
        /// Messages to publish.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Payload bytes per message.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Full-queue policy: block (lossless), drop-oldest or disconnect.
        #[arg(long, default_value = "block")]
        policy: herald_node::queue::OverflowPolicy,
        /// Multicast group port on 127.0.0.1.
        #[arg(long, default_value_t = 27_269)]
        port: u16,
        /// Key every node with this key file: links encrypted (Noise), beacons signed.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
        /// Run the publisher and each subscriber as an OS process of its own (as ZeroMQ and NATS are
        /// measured), not as nodes in this one process.
        #[arg(long)]
        processes: bool,
    },
    /// A subscriber process of `pubsub --processes` (started by it).
    #[command(hide = true)]
    PubsubSubscriber {
        /// Its node name.
        #[arg(long)]
        name: String,
        /// Multicast group port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// Timed messages to wait for (after the warm-up one).
        #[arg(long)]
        messages: u64,
        /// The publisher's key file.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// Ask/answer round trips one at a time to an answerer in a separate process: p50, p99, max.
    Latency {
        /// Round trips to measure (after 1,000 for warm-up).
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        /// Question (and echoed answer) bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Multicast group port on 127.0.0.1.
        #[arg(long, default_value_t = 27_270)]
        port: u16,
        /// Key both nodes with this key file: the link encrypted (Noise), beacons signed.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// WebSocket bridge: events fanned out to C clients (frames/s, p99 from node event to client receipt) while
    /// the clients send commands.
    Bridge {
        /// WebSocket clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Messages published, each to every client.
        #[arg(long, default_value_t = 100)]
        events: u64,
        /// Frames per second delivered in total across the clients.
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Commands per second sent in total by the clients.
        #[arg(long, default_value_t = 10_000.0)]
        command_rate: f64,
        /// Multicast group port on 127.0.0.1.
        #[arg(long, default_value_t = 27_271)]
        port: u16,
    },
    /// Two sites on loopback through one local nats-server (gateways in processes of their own): cross-site
    /// pub/sub throughput and ask p50/p99 beside a plain NATS client pair, and each gateway's CPU per message.
    Sites {
        /// Messages per size.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// Payload sizes (bytes), one run each.
        #[arg(long, value_delimiter = ',', default_values_t = [64, 1024])]
        sizes: Vec<usize>,
        /// Round trips per ask figure (after 100 for warm-up).
        #[arg(long, default_value_t = 2000)]
        asks: u64,
        /// Multicast group port of site A on 127.0.0.1 (site B: the next one; the LAN pair's: the one after).
        #[arg(long, default_value_t = 27_280)]
        port: u16,
    },
    /// A gateway process of `sites` (started by it).
    #[command(hide = true)]
    SiteGateway {
        /// Its site.
        #[arg(long)]
        site: String,
        /// Multicast group port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// The NATS server.
        #[arg(long)]
        nats: String,
    },
    /// A subscriber process of `sites` (started by it): a Herald node at site B (`--port`) or a plain NATS
    /// client (`--nats`, `--subject`).
    #[command(hide = true)]
    SiteSubscriber {
        /// Site B's multicast group port on 127.0.0.1 (a Herald node).
        #[arg(long, required_unless_present = "nats")]
        port: Option<u16>,
        /// The NATS server (a plain NATS client).
        #[arg(long, requires = "subject", conflicts_with = "port")]
        nats: Option<String>,
        /// The plain client's subject.
        #[arg(long)]
        subject: Option<String>,
        /// Timed messages to wait for (after the warm-up).
        #[arg(long)]
        messages: u64,
    },
    /// The answering process of `latency` (started by it).
    #[command(hide = true)]
    Answerer {
        /// Multicast group port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// The asker's key file.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// IP log: reports per second acknowledged after their commit to SQLite, from H hosts (127.x.y.z sources),
    /// peak memory, then a flood of distinct names.
    Iplog {
        /// Reports to send in the main run.
        #[arg(long, default_value_t = 200_000)]
        reports: u64,
        /// Reporting hosts, each its own source address and name.
        #[arg(long, default_value_t = 1000)]
        hosts: usize,
        /// Distinct fake host names sent afterwards (0: no flood).
        #[arg(long, default_value_t = 1_000_000)]
        flood: u64,
        /// Commit durability: normal (survives kill -9) or full (survives power loss).
        #[arg(long, default_value = "normal")]
        sync: herald_node::iplog::SyncMode,
        /// Sign every report (HMAC on both sides).
        #[arg(long)]
        signed: bool,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    cli.runtime.build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.bench {
        Bench::Iplog {
            reports,
            hosts,
            flood,
            sync,
            signed,
        } => {
            let figures =
                herald_node::bench::iplog::run(reports, hosts, flood, sync, signed).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                println!(
                    "iplog {} reports from {} hosts (sync {}{}): {:.0} reports/s acknowledged after commit, {:.1} reports/commit, {} resent, peak {} MiB",
                    figures.reports,
                    figures.hosts,
                    figures.sync,
                    if figures.signed { ", signed" } else { "" },
                    figures.reports_per_s,
                    figures.reports as f64 / figures.commits.max(1) as f64,
                    figures.resent,
                    figures.peak_rss_kib / 1024
                );
                if let Some(flood) = &figures.flood {
                    println!(
                        "iplog flood of {} distinct names: {:.0} replies/s, {} stored (cap {}), {} refused; RSS {} MiB at 10%, {} MiB at the end, peak {} MiB",
                        flood.names,
                        flood.replies_per_s,
                        flood.stored,
                        flood.max_hosts,
                        flood.refused_host_cap,
                        flood.rss_kib_at_10_percent / 1024,
                        flood.rss_kib_at_end / 1024,
                        flood.peak_rss_kib / 1024
                    );
                }
            }
            Ok(())
        }
        Bench::Bridge {
            clients,
            events,
            rate,
            command_rate,
            port,
        } => {
            let figures =
                herald_node::bench::bridge::run(clients, events, rate, command_rate, port).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                println!(
                    "bridge {} clients x {} events: {:.0} frames/s delivered ({} of {}, {} dropped), node event to client p50 {:.2} ms p99 {:.2} ms max {:.2} ms; {:.0} commands/s, p99 {:.2} ms; {:.1} s (+{:.1} s to connect), peak {} MiB",
                    figures.clients,
                    figures.events,
                    figures.frames_per_s,
                    figures.frames_delivered,
                    figures.frames_expected,
                    figures.frames_dropped,
                    figures.p50_ms,
                    figures.p99_ms,
                    figures.max_ms,
                    figures.commands_per_s,
                    figures.command_p99_ms,
                    figures.seconds,
                    figures.connect_seconds,
                    figures.peak_rss_kib / 1024
                );
            }
            Ok(())
        }
        Bench::Discovery {
            nodes,
            heartbeat_ms,
            steady_secs,
            port,
            seeds,
        } => {
            for n in nodes {
                let heartbeat = Duration::from_millis(heartbeat_ms);
                let figures = herald_node::bench::discovery::run(
                    n,
                    port,
                    heartbeat,
                    Duration::from_secs_f64(steady_secs),
                    seeds,
                )
                .await?;
                if cli.json {
                    println!("{}", serde_json::to_string(&figures)?);
                } else {
                    println!(
                        "discovery{} nodes={:<4} converge={:>8.1} ms ({:.1} heartbeats)  leave seen by all={:>6.1} ms  crash detected={:>7.1} ms ({:.2} heartbeats)  settled after {:.1} s  steady={:>6.0} B/s/node",
                        if figures.seeds { " (seeds)" } else { "" },
                        figures.nodes,
                        figures.converge_ms,
                        figures.converge_heartbeats,
                        figures.leave_seen_ms,
                        figures.crash_detect_ms,
                        figures.crash_detect_heartbeats,
                        figures.settle_ms / 1e3,
                        figures.beacon_bytes_per_sec_per_node
                    );
                }
            }
            Ok(())
        }
        Bench::Pubsub {
            subscribers,
            messages,
            size,
            policy,
            port,
            key_file,
            processes,
        } => {
            let key = key_file
                .as_deref()
                .map(herald_node::auth::Key::from_file)
                .transpose()?;
            let keyed = key.is_some();
            let figures = if processes {
                herald_node::bench::pubsub_processes::run(
                    subscribers,
                    messages,
                    size,
                    policy,
                    port,
                    key_file.as_deref(),
                    cli.runtime,
                )
                .await?
            } else {
                herald_node::bench::pubsub::run(
                    subscribers,
                    messages,
                    size,
                    policy,
                    port,
                    key,
                    cli.runtime,
                )
                .await?
            };
            if cli.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                println!(
                    "pubsub 1->{} {} x {} B ({:?}{}{}, {}): {:.0} msgs/s delivered, {:.1} MB/s, {} dropped, {:.3} s, peak RSS {:?} KiB",
                    figures.subscribers,
                    figures.messages,
                    figures.size,
                    policy,
                    if keyed { ", keyed" } else { "" },
                    if processes { ", separate processes" } else { ", one process" },
                    figures.runtime,
                    figures.msgs_per_s_delivered,
                    figures.mb_per_s,
                    figures.dropped,
                    figures.seconds,
                    figures.peak_rss_kib
                );
            }
            Ok(())
        }
        Bench::Latency {
            messages,
            size,
            port,
            key_file,
        } => {
            let figures =
                herald_node::bench::latency::run(messages, size, port, key_file.as_deref()).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                println!(
                    "reqrep {} x {} B{}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({:.2} s)",
                    figures.messages,
                    figures.size,
                    if figures.keyed { " (keyed)" } else { "" },
                    figures.p50_us,
                    figures.p99_us,
                    figures.max_us,
                    figures.seconds
                );
            }
            Ok(())
        }
        Bench::PubsubSubscriber {
            name,
            port,
            messages,
            key_file,
        } => {
            herald_node::bench::pubsub_processes::subscriber(
                &name,
                port,
                messages,
                key_file.as_deref(),
                |line| println!("{line}"),
            )
            .await
        }
        Bench::Sites {
            messages,
            sizes,
            asks,
            port,
        } => {
            let figures = herald_node::bench::sites::run(&sizes, messages, asks, port).await?;
            if cli.json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                for t in &figures.throughput {
                    println!(
                        "sites pubsub {} x {} B: Herald across sites {:.0} msgs/s ({} lost), plain NATS pair {:.0} msgs/s ({} lost), ratio {:.2}; gateway CPU per message: A {:.1} µs, B {:.1} µs; all processes' CPU per message: Herald {:.1} µs, plain NATS {:.1} µs",
                        t.messages, t.size, t.herald_msgs_per_s, t.herald_lost, t.nats_msgs_per_s, t.nats_lost, t.ratio, t.gateway_a_cpu_us_per_msg, t.gateway_b_cpu_us_per_msg, t.herald_total_cpu_us_per_msg, t.nats_total_cpu_us_per_msg
                    );
                    for path in &t.paths {
                        let processes: Vec<String> = path
                            .cpu_us_per_msg
                            .iter()
                            .map(|p| format!("{} {:.2}", p.process, p.us))
                            .collect();
                        println!(
                            "  {} B, {}: {:.0} msgs/s ({:.2} of the plain pair, {} lost); CPU µs per message: {} = {:.2}",
                            t.size,
                            path.path,
                            path.msgs_per_s,
                            path.msgs_per_s / t.nats_msgs_per_s.max(1e-9),
                            path.lost,
                            processes.join(", "),
                            path.total_cpu_us_per_msg
                        );
                    }
                }
                println!(
                    "sites ask x {}: across sites p50 {:.0} µs, p99 {:.0} µs; NATS request p50 {:.0} µs, p99 {:.0} µs; LAN ask p50 {:.0} µs; goal p50 <= {:.0} µs",
                    figures.asks, figures.ask_p50_us, figures.ask_p99_us, figures.nats_request_p50_us, figures.nats_request_p99_us, figures.lan_ask_p50_us, figures.ask_goal_p50_us
                );
            }
            Ok(())
        }
        Bench::SiteGateway { site, port, nats } => {
            herald_node::bench::sites::gateway(&site, port, &nats, |line| println!("{line}")).await
        }
        Bench::SiteSubscriber {
            port,
            nats,
            subject,
            messages,
        } => {
            use herald_node::bench::site_subscriber::{run, Subscriber};
            let subscriber = match (port, nats, subject) {
                (_, Some(url), Some(subject)) => Subscriber::Nats { url, subject },
                (Some(port), _, _) => Subscriber::Herald { port },
                _ => anyhow::bail!("--port, or --nats with --subject"),
            };
            run(subscriber, messages, |line| println!("{line}")).await
        }
        Bench::Answerer { port, key_file } => {
            let key = key_file
                .as_deref()
                .map(herald_node::auth::Key::from_file)
                .transpose()?;
            let node = herald_node::bench::latency::start_answerer(port, key).await?;
            println!("ready");
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
            node.shutdown().await;
            Ok(())
        }
    }
}
