//! The overview's figures from the node's counters: messages per second in and out (and their recent history
//! for the sparkline), questions asked, answered and in flight, and the trouble counters with how recently
//! each group moved (the colour of its tile). Fed by the `stats` events the bridge pushes every second to a page
//! that asked (`watch_stats`), and by any other `stats` event or reply.

use std::collections::VecDeque;

use herald_core::bridge::{LinkInfo, Stats};

use crate::num;

/// Rate samples kept for the sparkline (one a second: the last five minutes).
pub const MAX_SAMPLES: usize = 300;

/// A trouble group is red while it moved within this long, amber until [`AMBER_FOR_MS`] after.
pub const RED_FOR_MS: u64 = 5_000;
/// A trouble group stays amber this long after it last moved.
pub const AMBER_FOR_MS: u64 = 60_000;

/// Counters of messages this node received (topic and direct).
const IN_COUNTERS: &[&str] = &["messaging.received", "messaging.direct_received"];
/// Counters of messages this node sent (publish calls and direct messages).
const OUT_COUNTERS: &[&str] = &["messaging.published", "messaging.direct_sent"];
/// Ends of questions peers asked this node: answered, failed, timed out, turned away busy.
const QUESTION_ENDS: &[&str] = &[
    "questions.answers_sent",
    "questions.answers_failed",
    "questions.answers_timed_out",
    "questions.busy",
];

/// The overview's groups of trouble counters, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trouble {
    /// Messages or events dropped, missed or discarded.
    Drops,
    /// Refusals and rejections (subscriber bounds, auth, version, origin, rate).
    Refusals,
    /// Consumers that fell behind (lagged, disconnected as slow, busy).
    Lags,
    /// Bad input and failures (malformed datagrams, bad requests, read errors, failed handlers).
    BadInput,
}

impl Trouble {
    /// Every group, in display order.
    pub const ALL: [Trouble; 4] = [
        Trouble::Drops,
        Trouble::Refusals,
        Trouble::Lags,
        Trouble::BadInput,
    ];

    /// The tile's label.
    pub fn label(self) -> &'static str {
        match self {
            Trouble::Drops => "Drops",
            Trouble::Refusals => "Refusals",
            Trouble::Lags => "Lags",
            Trouble::BadInput => "Bad input",
        }
    }

    /// Its place in [`Trouble::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    /// The group of a trouble counter (see [`herald_core::bridge::is_trouble_counter`]).
    pub fn of(name: &str) -> Trouble {
        let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
        if has(&["lagged", "disconnected", "busy", "timed_out"]) {
            Trouble::Lags
        } else if has(&["refused", "refusals", "rejected", "claims"]) {
            Trouble::Refusals
        } else if has(&["dropped", "missed", "discarded", "not_queued"]) {
            Trouble::Drops
        } else {
            Trouble::BadInput
        }
    }
}

/// How a trouble tile looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Has not moved for a minute (or never).
    Calm,
    /// Moved within the last minute.
    Amber,
    /// Moving now.
    Red,
}

impl Level {
    /// The CSS class and the word shown beside the figure (status is never colour alone).
    pub fn key(self) -> &'static str {
        match self {
            Level::Calm => "calm",
            Level::Amber => "amber",
            Level::Red => "red",
        }
    }
}

/// One trouble group's figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TroubleTile {
    /// Which group.
    pub group: Trouble,
    /// Its counters summed.
    pub total: u64,
    /// How recently it moved.
    pub level: Level,
    /// The group's non-zero counters, `name value`, for the tooltip.
    pub detail: String,
}

/// One sample of the message rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// When (unix ms, the node's clock).
    pub at_ms: u64,
    /// Messages received per second since the previous sample.
    pub in_per_s: f64,
    /// Messages sent per second since the previous sample.
    pub out_per_s: f64,
}

/// The counters over time.
#[derive(Debug, Default, Clone)]
pub struct Traffic {
    latest: Option<Stats>,
    rates: VecDeque<Rate>,
    /// When each trouble group (by [`Trouble::ALL`]'s order) last moved (unix ms). Arrays rather than maps:
    /// each map type costs the wasm its own copy of the map's code.
    moved_at: [Option<u64>; 4],
    /// The node's open links as last pushed.
    pub links: Vec<LinkInfo>,
    /// The last push: its time and the message totals in and out.
    last_push: Option<(u64, u64, u64)>,
}

fn sum(stats: &Stats, names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|name| stats.counters.get(*name))
        .sum()
}

/// The trouble counters summed by group, in [`Trouble::ALL`]'s order.
fn trouble_totals(stats: &Stats) -> [u64; 4] {
    let mut totals = [0; 4];
    for (name, value) in &stats.counters {
        if herald_core::bridge::is_trouble_counter(name) {
            totals[Trouble::of(name).index()] += value;
        }
    }
    totals
}

impl Traffic {
    /// Counters arrived, read at `at_ms` (the stats' own time when the bridge pushed them, else the page's
    /// clock, passed in).
    pub fn apply(&mut self, mut stats: Stats, now_ms: u64) {
        let pushed = stats.at_ms != 0;
        if !pushed {
            stats.at_ms = now_ms;
        }
        let totals = trouble_totals(&stats);
        if let Some(before) = &self.latest {
            let old = trouble_totals(before);
            for (i, total) in totals.iter().enumerate() {
                if *total > old[i] {
                    self.moved_at[i] = Some(stats.at_ms);
                }
            }
        }
        // Rates only between two pushes: both times are then the node's.
        let (ins, outs) = (sum(&stats, IN_COUNTERS), sum(&stats, OUT_COUNTERS));
        if pushed {
            if let Some((at_ms, before_in, before_out)) = self.last_push {
                let elapsed_ms = stats.at_ms.saturating_sub(at_ms);
                if elapsed_ms > 0 {
                    let per_s = |now: u64, before: u64| {
                        now.saturating_sub(before) as f64 * 1000.0 / elapsed_ms as f64
                    };
                    self.rates.push_back(Rate {
                        at_ms: stats.at_ms,
                        in_per_s: per_s(ins, before_in),
                        out_per_s: per_s(outs, before_out),
                    });
                    if self.rates.len() > MAX_SAMPLES {
                        self.rates.pop_front();
                    }
                }
            }
            self.last_push = Some((stats.at_ms, ins, outs));
            self.links = std::mem::take(&mut stats.links);
        }
        self.latest = Some(stats);
    }

    /// The latest counters, if any arrived.
    pub fn latest(&self) -> Option<&Stats> {
        self.latest.as_ref()
    }

    /// The latest message rates, if two readings arrived.
    pub fn rate(&self) -> Option<Rate> {
        self.rates.back().copied()
    }

    /// The rate samples, oldest first.
    pub fn rates(&self) -> impl Iterator<Item = &Rate> {
        self.rates.iter()
    }

    /// Questions peers asked this node, answered by it, and still being answered; and questions it asked.
    pub fn questions(&self) -> Questions {
        let Some(stats) = &self.latest else {
            return Questions::default();
        };
        let received = sum(stats, &["questions.received"]);
        Questions {
            asked: sum(stats, &["questions.asked"]),
            received,
            answered: sum(stats, &["questions.answers_sent"]),
            in_flight: received.saturating_sub(sum(stats, QUESTION_ENDS)),
        }
    }

    /// The trouble tiles at `now_ms` (the page's clock).
    pub fn trouble(&self, now_ms: u64) -> Vec<TroubleTile> {
        let Some(stats) = &self.latest else {
            return Vec::new();
        };
        let totals = trouble_totals(stats);
        // Times are the node's; the page's clock may differ a little, which a tile's colour forgives.
        let now_ms = now_ms.max(stats.at_ms);
        Trouble::ALL
            .iter()
            .map(|group| {
                let level = match &self.moved_at[group.index()] {
                    Some(at) if now_ms.saturating_sub(*at) < RED_FOR_MS => Level::Red,
                    Some(at) if now_ms.saturating_sub(*at) < AMBER_FOR_MS => Level::Amber,
                    _ => Level::Calm,
                };
                let detail = stats
                    .counters
                    .iter()
                    .filter(|(name, value)| {
                        **value > 0
                            && herald_core::bridge::is_trouble_counter(name)
                            && Trouble::of(name) == *group
                    })
                    .map(|(name, value)| format!("{name} {value}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                TroubleTile {
                    group: *group,
                    total: totals[group.index()],
                    level,
                    detail,
                }
            })
            .collect()
    }

    /// The sparkline of total messages per second (in + out) as SVG polyline points in a `width` x `height`
    /// box, newest at the right; empty with fewer than two samples.
    pub fn sparkline(&self, width: f64, height: f64) -> String {
        if self.rates.len() < 2 {
            return String::new();
        }
        let totals: Vec<f64> = self
            .rates
            .iter()
            .map(|r| r.in_per_s + r.out_per_s)
            .collect();
        let top = totals.iter().copied().fold(1.0, f64::max);
        let step = width / (MAX_SAMPLES - 1) as f64;
        let start = width - step * (totals.len() - 1) as f64;
        totals
            .iter()
            .enumerate()
            .map(|(i, total)| {
                let x = start + step * i as f64;
                let y = height - total / top * height;
                format!("{},{}", num::dec1(x), num::dec1(y))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The question figures of the overview.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Questions {
    /// Questions this node asked.
    pub asked: u64,
    /// Questions peers asked this node.
    pub received: u64,
    /// Answers this node sent.
    pub answered: u64,
    /// Questions received and not yet answered (nor failed, timed out or turned away).
    pub in_flight: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(at_ms: u64, counters: &[(&str, u64)]) -> Stats {
        Stats {
            counters: counters.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            at_ms,
            ..Stats::default()
        }
    }

    #[test]
    fn rates_come_from_two_readings_and_the_sparkline_fills_from_the_right() {
        let mut traffic = Traffic::default();
        traffic.apply(stats(1_000, &[("messaging.received", 10)]), 0);
        assert_eq!(traffic.rate(), None);
        assert_eq!(traffic.sparkline(100.0, 10.0), "");
        traffic.apply(
            stats(
                3_000,
                &[("messaging.received", 30), ("messaging.published", 4)],
            ),
            0,
        );
        let rate = traffic.rate().unwrap();
        assert_eq!((rate.in_per_s, rate.out_per_s), (10.0, 2.0));
        traffic.apply(
            stats(
                4_000,
                &[("messaging.received", 30), ("messaging.published", 4)],
            ),
            0,
        );
        let points = traffic.sparkline(299.0, 10.0);
        assert_eq!(points, "298.0,0.0 299.0,10.0");
    }

    #[test]
    fn trouble_groups_turn_red_when_they_move_then_amber_then_calm() {
        let mut traffic = Traffic::default();
        traffic.apply(
            stats(
                1_000,
                &[
                    ("discovery.dropped.malformed", 2),
                    ("bridge.refused.token", 0),
                    ("messaging.received", 5),
                ],
            ),
            0,
        );
        let levels = |t: &Traffic, now| -> Vec<(Trouble, u64, Level)> {
            t.trouble(now)
                .into_iter()
                .map(|tile| (tile.group, tile.total, tile.level))
                .collect()
        };
        // Already non-zero at the first reading: shown, but calm.
        assert_eq!(levels(&traffic, 1_000)[0], (Trouble::Drops, 2, Level::Calm));
        traffic.apply(
            stats(
                2_000,
                &[
                    ("discovery.dropped.malformed", 2),
                    ("bridge.refused.token", 1),
                ],
            ),
            0,
        );
        assert_eq!(
            levels(&traffic, 2_000)[1],
            (Trouble::Refusals, 1, Level::Red)
        );
        assert_eq!(levels(&traffic, 2_000)[0].2, Level::Calm);
        assert_eq!(levels(&traffic, 2_000 + RED_FOR_MS)[1].2, Level::Amber);
        assert_eq!(levels(&traffic, 2_000 + AMBER_FOR_MS)[1].2, Level::Calm);
        let tiles = traffic.trouble(2_000);
        assert_eq!(tiles[1].detail, "bridge.refused.token 1");
        assert_eq!(Trouble::of("bridge.disconnected.slow"), Trouble::Lags);
        assert_eq!(Trouble::of("bridge.bad_requests"), Trouble::BadInput);
    }

    #[test]
    fn questions_in_flight_are_those_received_and_not_ended() {
        let mut traffic = Traffic::default();
        traffic.apply(
            stats(
                1,
                &[
                    ("questions.asked", 3),
                    ("questions.received", 10),
                    ("questions.answers_sent", 6),
                    ("questions.busy", 1),
                ],
            ),
            0,
        );
        assert_eq!(
            traffic.questions(),
            Questions {
                asked: 3,
                received: 10,
                answered: 6,
                in_flight: 3
            }
        );
    }
}
