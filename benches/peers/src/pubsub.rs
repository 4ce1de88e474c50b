//! `peers-bench pubsub`: one publisher (this process) to N subscriber processes, as `herald-bench pubsub`
//! measures Herald: every subscriber first receives a warm-up message (so every connection is open), then the
//! clock runs from the first timed publish to the last delivery at any subscriber.
//!
//! Lossless on both systems: the ZeroMQ PUB and SUB sockets have no high-water mark (they queue instead of
//! dropping); NATS runs with pending limits far above a run's volume (server and client side). Whatever does
//! not arrive is still counted, as `dropped`: an END message after the last one lets subscribers stop early,
//! and a subscriber that hears nothing for [`IDLE_TIMEOUT`] stops and reports what it has.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};

use crate::figures::PubSubFigures;
use crate::procs::{mono_ns, spawn_role, Child, NatsServer};
use crate::System;

/// The one topic (NATS subject) of the run.
const SUBJECT: &str = "bench";
/// First payload byte of a warm-up message (sent until every subscriber has one, not counted).
const WARM: u8 = 0;
/// First payload byte of a timed message.
const DATA: u8 = 1;
/// The one-byte message after the last timed one.
const END: u8 = 2;
/// Every subscriber must have its warm-up message by then.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A joined subscriber that receives nothing for this long stops and reports what it has.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subscriber waits for one message before checking its timeouts.
const POLL: Duration = Duration::from_millis(100);
/// Messages the NATS client may hold for a subscriber that has not read them yet (it drops beyond that).
const NATS_SUBSCRIPTION_CAPACITY: usize = 1 << 20;

/// Runs one publisher to `subscribers` processes: `messages` messages of `size` bytes each.
pub fn run(
    system: System,
    subscribers: usize,
    messages: u64,
    size: usize,
) -> anyhow::Result<PubSubFigures> {
    ensure!(subscribers >= 1, "--subscribers must be at least 1");
    ensure!(
        size >= 1,
        "--size must be at least 1 (the first byte tags the message)"
    );
    let mut data = vec![0u8; size];
    data[0] = DATA;
    let mut warm = data.clone();
    warm[0] = WARM;
    let (start_ns, reports) = match system {
        System::Zmq => publish_zmq(subscribers, messages, &warm, &data)?,
        System::Nats => publish_nats(subscribers, messages, warm.into(), data.into())?,
    };
    let delivered = reports.iter().map(|r| r.delivered).sum();
    let end_ns = reports.iter().map(|r| r.last_ns).max().unwrap_or(start_ns);
    let seconds = end_ns.saturating_sub(start_ns) as f64 / 1e9;
    Ok(PubSubFigures::new(
        system.name(),
        subscribers,
        messages,
        size,
        delivered,
        seconds,
    ))
}

/// ZeroMQ: a PUB socket bound on 127.0.0.1; returns the clock at the first timed send and every report.
fn publish_zmq(
    subscribers: usize,
    messages: u64,
    warm: &[u8],
    data: &[u8],
) -> anyhow::Result<(u64, Vec<Report>)> {
    let context = zmq::Context::new();
    let publisher = context.socket(zmq::PUB)?;
    publisher.set_sndhwm(0)?; // no high-water mark: queue, never drop
    publisher.bind("tcp://127.0.0.1:*")?;
    let addr = publisher
        .get_last_endpoint()?
        .map_err(|_| anyhow!("ZeroMQ endpoint is not UTF-8"))?;
    let mut subs = Subscribers::spawn(System::Zmq, &addr, subscribers, messages)?;
    while !subs.all_joined()? {
        publisher.send(warm, 0)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let start_ns = mono_ns();
    for _ in 0..messages {
        publisher.send(data, 0)?;
    }
    publisher.send(&[END][..], 0)?;
    let reports = subs.finish()?;
    publisher.set_linger(0)?; // every subscriber has reported: nothing left worth waiting for
    Ok((start_ns, reports))
}

/// NATS: a server of this run's own and one publishing client; returns the clock at the first timed publish
/// and every report.
fn publish_nats(
    subscribers: usize,
    messages: u64,
    warm: Bytes,
    data: Bytes,
) -> anyhow::Result<(u64, Vec<Report>)> {
    let server = NatsServer::start()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let client = runtime.block_on(async_nats::connect(&server.url))?;
    let mut subs = Subscribers::spawn(System::Nats, &server.url, subscribers, messages)?;
    runtime.block_on(async {
        while !subs.all_joined()? {
            client.publish(SUBJECT, warm.clone()).await?;
            client.flush().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::Ok(())
    })?;
    let start_ns = mono_ns();
    runtime.block_on(async {
        for _ in 0..messages {
            client.publish(SUBJECT, data.clone()).await?;
        }
        client.publish(SUBJECT, Bytes::from_static(&[END])).await?;
        client.flush().await?;
        anyhow::Ok(())
    })?;
    let reports = subs.finish()?;
    drop(client);
    Ok((start_ns, reports))
}

/// What a subscriber reports at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Report {
    /// Timed messages received.
    delivered: u64,
    /// [`mono_ns`] at its last timed message (or at the END message).
    last_ns: u64,
}

/// What a subscriber process says on stdout, one line each: `joined`, then `done <delivered> <last_ns>`.
enum Said {
    Joined,
    Done(Report),
    /// Its stdout closed (it exited).
    Gone,
}

/// Where one subscriber is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Starting,
    Joined,
    Done(Report),
}

/// The subscriber processes and what they have said so far.
struct Subscribers {
    _children: Vec<Child>,
    said: Receiver<(usize, Said)>,
    states: Vec<State>,
    started: Instant,
}

impl Subscribers {
    /// Starts `n` subscriber processes of `system` at `addr`, each expecting `messages`.
    fn spawn(system: System, addr: &str, n: usize, messages: u64) -> anyhow::Result<Self> {
        // Each subscriber says at most three things: the channel never fills.
        let (tx, said) = sync_channel(3 * n);
        let messages = messages.to_string();
        let mut children = Vec::with_capacity(n);
        for i in 0..n {
            let args = [
                "subscriber",
                "--system",
                system.name(),
                "--addr",
                addr,
                "--messages",
                &messages,
            ];
            let (child, lines) = spawn_role(&args)?;
            children.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let said = if line == "joined" {
                        Said::Joined
                    } else if let Some(report) = parse_done(&line) {
                        Said::Done(report)
                    } else {
                        continue;
                    };
                    if tx.send((i, said)).is_err() {
                        return;
                    }
                }
                let _ = tx.send((i, Said::Gone));
            });
        }
        Ok(Subscribers {
            _children: children,
            said,
            states: vec![State::Starting; n],
            started: Instant::now(),
        })
    }

    /// Notes what subscribers said; fails for one that exited early.
    fn apply(&mut self, i: usize, said: Said) -> anyhow::Result<()> {
        match said {
            Said::Joined => self.states[i] = State::Joined,
            Said::Done(report) => self.states[i] = State::Done(report),
            Said::Gone if matches!(self.states[i], State::Done(_)) => {}
            Said::Gone => bail!("subscriber {i} exited without reporting (see its error above)"),
        }
        Ok(())
    }

    /// Whether every subscriber has its warm-up message; fails after [`JOIN_TIMEOUT`].
    fn all_joined(&mut self) -> anyhow::Result<bool> {
        while let Ok((i, said)) = self.said.try_recv() {
            self.apply(i, said)?;
        }
        let joined = self
            .states
            .iter()
            .filter(|s| **s != State::Starting)
            .count();
        if joined < self.states.len() && self.started.elapsed() > JOIN_TIMEOUT {
            bail!(
                "{joined} of {} subscribers joined within {JOIN_TIMEOUT:?}",
                self.states.len()
            );
        }
        Ok(joined == self.states.len())
    }

    /// Waits for every subscriber's report.
    fn finish(mut self) -> anyhow::Result<Vec<Report>> {
        // A subscriber stops at the latest IDLE_TIMEOUT after its last message.
        let patience = IDLE_TIMEOUT + Duration::from_secs(20);
        loop {
            let reports: Vec<Report> = self
                .states
                .iter()
                .filter_map(|s| match s {
                    State::Done(report) => Some(*report),
                    _ => None,
                })
                .collect();
            if reports.len() == self.states.len() {
                return Ok(reports);
            }
            match self.said.recv_timeout(patience) {
                Ok((i, said)) => self.apply(i, said)?,
                Err(RecvTimeoutError::Timeout) => {
                    bail!("subscribers silent for {patience:?} before reporting")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("every subscriber is gone"),
            }
        }
    }
}

fn parse_done(line: &str) -> Option<Report> {
    let mut fields = line.strip_prefix("done ")?.split(' ');
    let delivered = fields.next()?.parse().ok()?;
    let last_ns = fields.next()?.parse().ok()?;
    Some(Report { delivered, last_ns })
}

/// A subscriber's count of what it received, and when to stop.
struct Count {
    expected: u64,
    delivered: u64,
    joined: bool,
    /// Time since the last message, in steps of [`POLL`].
    idle: Duration,
    last_ns: u64,
    done: bool,
}

impl Count {
    fn new(expected: u64) -> Self {
        Count {
            expected,
            delivered: 0,
            joined: false,
            idle: Duration::ZERO,
            last_ns: 0,
            done: expected == 0,
        }
    }

    /// One message received, by its first byte.
    fn on(&mut self, tag: u8) {
        self.idle = Duration::ZERO;
        match tag {
            DATA => {
                self.delivered += 1;
                if self.delivered == self.expected {
                    self.stop(Duration::ZERO);
                }
            }
            WARM if !self.joined => {
                self.joined = true;
                println!("joined");
            }
            END => self.stop(Duration::ZERO),
            _ => {}
        }
    }

    /// [`POLL`] passed with nothing received.
    fn nothing(&mut self) -> anyhow::Result<()> {
        self.idle += POLL;
        if !self.joined && self.idle >= JOIN_TIMEOUT {
            bail!("no warm-up message within {JOIN_TIMEOUT:?}");
        }
        if self.joined && self.idle >= IDLE_TIMEOUT {
            // Its last message came `idle` ago.
            self.stop(self.idle);
        }
        Ok(())
    }

    fn stop(&mut self, ago: Duration) {
        self.done = true;
        self.last_ns = mono_ns().saturating_sub(ago.as_nanos() as u64);
    }
}

/// The subscriber process: receives until it has every message, the END message, or [`IDLE_TIMEOUT`] of
/// nothing; prints `joined` at its first warm-up message and `done <delivered> <last_ns>` at the end.
pub fn subscriber(system: System, addr: &str, messages: u64) -> anyhow::Result<()> {
    let mut count = Count::new(messages);
    match system {
        System::Zmq => receive_zmq(addr, &mut count)?,
        System::Nats => receive_nats(addr, &mut count)?,
    }
    println!("done {} {}", count.delivered, count.last_ns);
    Ok(())
}

fn receive_zmq(addr: &str, count: &mut Count) -> anyhow::Result<()> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_rcvhwm(0)?; // no high-water mark: queue, never drop
    socket.set_rcvtimeo(POLL.as_millis() as i32)?;
    socket.set_linger(0)?;
    socket.connect(addr)?;
    socket.set_subscribe(b"")?;
    let mut message = zmq::Message::new();
    while !count.done {
        match socket.recv(&mut message, 0) {
            Ok(()) => count.on(message.first().copied().unwrap_or(DATA)),
            Err(zmq::Error::EAGAIN) => count.nothing()?,
            Err(err) => return Err(err).context("ZeroMQ receive"),
        }
    }
    Ok(())
}

fn receive_nats(addr: &str, count: &mut Count) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .subscription_capacity(NATS_SUBSCRIPTION_CAPACITY)
            .connect(addr)
            .await?;
        let mut subscription = client.subscribe(SUBJECT).await?;
        client.flush().await?;
        while !count.done {
            // Take what is already there without arming a timer; wait with one only when nothing is.
            let next = match subscription.next().now_or_never() {
                Some(next) => Some(next),
                None => tokio::time::timeout(POLL, subscription.next()).await.ok(),
            };
            match next {
                Some(Some(message)) => count.on(message.payload.first().copied().unwrap_or(DATA)),
                Some(None) => bail!("NATS subscription closed"),
                None => count.nothing()?,
            }
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_stops_at_the_last_message_or_the_end() {
        let mut count = Count::new(2);
        count.on(WARM);
        count.on(WARM);
        count.on(DATA);
        assert!(count.joined && !count.done);
        count.on(DATA);
        assert!(count.done);
        assert_eq!(count.delivered, 2);

        let mut short = Count::new(3);
        short.on(WARM);
        short.on(DATA);
        short.on(END);
        assert!(short.done);
        assert_eq!(short.delivered, 1);
    }

    #[test]
    fn done_lines_parse() {
        let report = parse_done("done 42 123456789").unwrap();
        assert_eq!((report.delivered, report.last_ns), (42, 123456789));
        assert!(parse_done("joined").is_none());
    }
}
