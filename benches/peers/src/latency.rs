//! `peers-bench latency`: request/reply one at a time to an echo server in a separate process, as
//! `herald-bench latency` asks Herald's answerer: up to 1,000 untimed round trips first, then each timed one
//! on its own; p50, p99 and max by `herald-bench`'s percentile rule.
//!
//! ZeroMQ: a REQ socket here (bound on 127.0.0.1), a REP socket in the echo process. NATS: `request` on the
//! client here, a subscriber that publishes each request back to its reply subject in the echo process, both
//! through a `nats-server` of this run's own.

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::figures::LatencyFigures;
use crate::procs::{spawn_ready, NatsServer};
use crate::System;

/// The NATS subject the echo server answers on.
const SUBJECT: &str = "bench.echo";
/// Untimed round trips first, as many as `herald-bench latency` makes (fewer if the run is shorter).
const WARM_UP: u64 = 1000;
/// A reply slower than this fails the run.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Measures `messages` round trips of `size` bytes each way.
pub fn run(system: System, messages: u64, size: usize) -> anyhow::Result<LatencyFigures> {
    ensure!(messages >= 1, "--messages must be at least 1");
    let request = vec![b'q'; size];
    let warm_up = WARM_UP.min(messages);
    let (rtts, seconds) = match system {
        System::Zmq => ask_zmq(&request, warm_up, messages)?,
        System::Nats => ask_nats(request.into(), warm_up, messages)?,
    };
    Ok(LatencyFigures::new(system.name(), size, rtts, seconds))
}

fn ask_zmq(request: &[u8], warm_up: u64, messages: u64) -> anyhow::Result<(Vec<Duration>, f64)> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::REQ)?;
    socket.set_sndtimeo(REPLY_TIMEOUT.as_millis() as i32)?;
    socket.set_rcvtimeo(REPLY_TIMEOUT.as_millis() as i32)?;
    socket.set_linger(0)?;
    socket.bind("tcp://127.0.0.1:*")?;
    let addr = socket
        .get_last_endpoint()?
        .map_err(|_| anyhow!("ZeroMQ endpoint is not UTF-8"))?;
    let _echo = spawn_ready(&["echo", "--system", "zmq", "--addr", &addr])?;
    let mut reply = zmq::Message::new();
    let mut round_trip = || -> anyhow::Result<Duration> {
        let asked = Instant::now();
        socket.send(request, 0)?;
        socket.recv(&mut reply, 0)?;
        let rtt = asked.elapsed();
        ensure!(
            reply.len() == request.len(),
            "a reply of {} bytes",
            reply.len()
        );
        Ok(rtt)
    };
    for _ in 0..warm_up {
        round_trip()?;
    }
    let start = Instant::now();
    let rtts = (0..messages)
        .map(|_| round_trip())
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((rtts, start.elapsed().as_secs_f64()))
}

fn ask_nats(request: Bytes, warm_up: u64, messages: u64) -> anyhow::Result<(Vec<Duration>, f64)> {
    let server = NatsServer::start()?;
    let _echo = spawn_ready(&["echo", "--system", "nats", "--addr", &server.url])?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .request_timeout(Some(REPLY_TIMEOUT))
            .connect(&server.url)
            .await?;
        let round_trip = || async {
            let asked = Instant::now();
            let reply = client.request(SUBJECT, request.clone()).await?;
            let rtt = asked.elapsed();
            ensure!(
                reply.payload.len() == request.len(),
                "a reply of {} bytes",
                reply.payload.len()
            );
            anyhow::Ok(rtt)
        };
        for _ in 0..warm_up {
            round_trip().await?;
        }
        let start = Instant::now();
        let mut rtts = Vec::with_capacity(messages as usize);
        for _ in 0..messages {
            rtts.push(round_trip().await?);
        }
        Ok((rtts, start.elapsed().as_secs_f64()))
    })
}

/// The echo process: sends every request back unchanged until it is killed; prints `ready` once it listens.
pub fn echo(system: System, addr: &str) -> anyhow::Result<()> {
    match system {
        System::Zmq => {
            let context = zmq::Context::new();
            let socket = context.socket(zmq::REP)?;
            socket.connect(addr)?;
            println!("ready");
            loop {
                let request = socket.recv_msg(0)?;
                socket.send(request, 0)?;
            }
        }
        System::Nats => tokio::runtime::Runtime::new()?.block_on(async {
            let client = async_nats::connect(addr).await?;
            let mut requests = client.subscribe(SUBJECT).await?;
            client.flush().await?;
            println!("ready");
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    client.publish(reply, request.payload).await?;
                }
            }
            anyhow::Ok(())
        }),
    }
}
