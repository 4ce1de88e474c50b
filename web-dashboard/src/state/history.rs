//! IP history as the page queried it, kept current by live `ip_changed` events, and the geometry of the
//! timeline chart (one row per host, one bar per address period), computed here so it is tested natively.

use herald_core::bridge::{HistoryPage, HistoryQuery};
use herald_core::iplog::{IpChange, IpPeriod};

use super::vec_map::VecMap;
use crate::text::lowercase;

/// Narrowest bar, so that a period of an instant stays visible.
pub const MIN_BAR_WIDTH: f64 = 3.0;

/// Periods per host, oldest first.
#[derive(Debug, Default, Clone)]
pub struct IpHistory {
    hosts: VecMap<String, Vec<IpPeriod>>,
    /// Rows the last query matched in all (for paging).
    pub total: u64,
    /// Offset of the next page of the last query, if any.
    pub next_offset: Option<u64>,
    /// The node refused the last query because it keeps no IP log (said plainly, not as an error).
    pub no_log: bool,
}

/// One bar of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The host's row (0 = first host by name).
    pub row: usize,
    /// The host.
    pub host: String,
    /// The address it had.
    pub ip: String,
    /// Left edge, in the chart's units.
    pub x: f64,
    /// Width, at least [`MIN_BAR_WIDTH`].
    pub width: f64,
    /// Which colour: the index of this address among the host's addresses.
    pub shade: usize,
    /// The period's first sighting (unix ms).
    pub first_seen_ms: u64,
    /// The period's last sighting (unix ms).
    pub last_seen_ms: u64,
}

/// The timeline's zoom: how far back from now it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zoom {
    /// The last hour.
    Hour,
    /// The last day.
    #[default]
    Day,
    /// The last week.
    Week,
}

impl Zoom {
    /// Every zoom, narrowest first.
    pub const ALL: [Zoom; 3] = [Zoom::Hour, Zoom::Day, Zoom::Week];

    /// How long it shows (ms).
    pub fn span_ms(self) -> u64 {
        match self {
            Zoom::Hour => 3_600_000,
            Zoom::Day => 24 * 3_600_000,
            Zoom::Week => 7 * 24 * 3_600_000,
        }
    }

    /// Its button's label.
    pub fn label(self) -> &'static str {
        match self {
            Zoom::Hour => "hour",
            Zoom::Day => "day",
            Zoom::Week => "week",
        }
    }
}

/// Tick times between `from_ms` and `to_ms`: the largest round step (a minute up to a day) that gives at
/// least `min` ticks, at multiples of the step.
pub fn ticks(from_ms: u64, to_ms: u64, min: u64) -> Vec<u64> {
    const MINUTE: u64 = 60_000;
    const STEPS: [u64; 11] = [
        MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        60 * MINUTE,
        3 * 60 * MINUTE,
        6 * 60 * MINUTE,
        12 * 60 * MINUTE,
        24 * 60 * MINUTE,
        48 * 60 * MINUTE,
    ];
    let span = to_ms.saturating_sub(from_ms);
    let step = STEPS
        .iter()
        .rev()
        .copied()
        .find(|step| span / step >= min)
        .unwrap_or(MINUTE);
    let first = from_ms.div_ceil(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= to_ms)
        .collect()
}

impl IpHistory {
    /// A page arrived: a host's first page replaces what was known of it; later pages add.
    pub fn apply_page(&mut self, query: &HistoryQuery, page: HistoryPage) {
        if let (Some(host), 0) = (&query.host, query.offset) {
            self.hosts.remove(host);
        }
        for period in page.periods {
            let periods = self.hosts.entry_or_default(period.host.clone());
            periods.retain(|p| !(p.ip == period.ip && p.first_seen_ms == period.first_seen_ms));
            // In order of first sighting, by insertion (no sort code in the wasm for it).
            let at = periods.partition_point(|p| p.first_seen_ms <= period.first_seen_ms);
            periods.insert(at, period);
        }
        self.total = page.total;
        self.next_offset = page.next_offset;
        self.no_log = false;
    }

    /// A live change: the host's new address starts a period (or extends the current one).
    pub fn apply_change(&mut self, change: &IpChange) {
        let periods = self.hosts.entry_or_default(change.host.clone());
        match periods.last_mut() {
            Some(last) if last.ip == change.new_ip => {
                last.last_seen_ms = last.last_seen_ms.max(change.at_ms)
            }
            _ => periods.push(IpPeriod {
                host: change.host.clone(),
                ip: change.new_ip,
                first_seen_ms: change.at_ms,
                last_seen_ms: change.at_ms,
                reports: 1,
            }),
        }
    }

    /// Hosts whose name contains `filter`, by name.
    pub fn hosts(&self, filter: &str) -> Vec<&str> {
        let filter = lowercase(filter.trim());
        self.hosts
            .keys()
            .filter(|h| lowercase(h).contains(&filter))
            .map(String::as_str)
            .collect()
    }

    /// A host's periods, oldest first.
    pub fn periods(&self, host: &str) -> &[IpPeriod] {
        self.hosts.get(host).map_or(&[], Vec::as_slice)
    }

    /// The timeline of the hosts matching `filter` between `from_ms` and `to_ms`, `width` units wide. A host
    /// had an address from its period's first sighting until the next period began (the last period until
    /// its last sighting); bars are clipped to the range.
    pub fn timeline(&self, filter: &str, from_ms: u64, to_ms: u64, width: f64) -> Vec<Bar> {
        let span = to_ms.saturating_sub(from_ms).max(1) as f64;
        let scale = |ms: u64| (ms.clamp(from_ms, to_ms) - from_ms) as f64 / span * width;
        let mut bars = Vec::new();
        for (row, host) in self.hosts(filter).into_iter().enumerate() {
            let periods = self.periods(host);
            let mut shades: Vec<std::net::IpAddr> = Vec::new();
            for (i, period) in periods.iter().enumerate() {
                let end = periods
                    .get(i + 1)
                    .map_or(period.last_seen_ms, |next| next.first_seen_ms);
                let shade = match shades.iter().position(|ip| *ip == period.ip) {
                    Some(shade) => shade,
                    None => {
                        shades.push(period.ip);
                        shades.len() - 1
                    }
                };
                if end < from_ms || period.first_seen_ms > to_ms {
                    continue;
                }
                let x = scale(period.first_seen_ms);
                let bar_width = (scale(end) - x).max(MIN_BAR_WIDTH);
                bars.push(Bar {
                    row,
                    host: host.to_owned(),
                    ip: period.ip.to_string(),
                    // A period at the right edge still fits inside the chart.
                    x: x.min(width - bar_width).max(0.0),
                    width: bar_width,
                    shade,
                    first_seen_ms: period.first_seen_ms,
                    last_seen_ms: period.last_seen_ms,
                });
            }
        }
        bars
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::iplog::IpChangeSource;

    fn period(host: &str, ip: &str, first: u64, last: u64) -> IpPeriod {
        IpPeriod {
            host: host.into(),
            ip: ip.parse().unwrap(),
            first_seen_ms: first,
            last_seen_ms: last,
            reports: 1,
        }
    }

    fn query(host: Option<&str>, offset: u64) -> HistoryQuery {
        HistoryQuery {
            host: host.map(str::to_owned),
            from_ms: None,
            to_ms: None,
            offset,
            limit: 100,
        }
    }

    fn page(periods: Vec<IpPeriod>) -> HistoryPage {
        HistoryPage {
            total: periods.len() as u64,
            periods,
            next_offset: None,
        }
    }

    #[test]
    fn pages_fill_hosts_and_live_changes_start_periods() {
        let mut history = IpHistory::default();
        history.apply_page(
            &query(None, 0),
            page(vec![
                period("a", "10.0.0.1", 100, 200),
                period("b", "10.0.0.5", 50, 60),
            ]),
        );
        assert_eq!(history.hosts(""), ["a", "b"]);
        let change = IpChange {
            host: "a".into(),
            old_ip: Some("10.0.0.1".parse().unwrap()),
            new_ip: "10.0.0.2".parse().unwrap(),
            at_ms: 300,
            source: IpChangeSource::Discovery,
        };
        history.apply_change(&change);
        history.apply_change(&IpChange {
            at_ms: 350,
            ..change.clone()
        });
        let ips: Vec<String> = history
            .periods("a")
            .iter()
            .map(|p| p.ip.to_string())
            .collect();
        assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(history.periods("a")[1].last_seen_ms, 350);
        // A host's first page replaces what was known of it.
        history.apply_page(
            &query(Some("a"), 0),
            page(vec![period("a", "10.0.0.7", 10, 20)]),
        );
        assert_eq!(history.periods("a").len(), 1);
        assert_eq!(history.hosts("B"), ["b"]);
    }

    #[test]
    fn the_timeline_places_each_period_until_the_next_began_and_clips_to_the_range() {
        let mut history = IpHistory::default();
        history.apply_page(
            &query(None, 0),
            page(vec![
                period("a", "10.0.0.1", 0, 400),
                period("a", "10.0.0.2", 500, 800),
                period("a", "10.0.0.1", 900, 1000),
                period("b", "10.0.0.9", 1500, 1600),
            ]),
        );
        let bars = history.timeline("", 0, 1000, 100.0);
        let view: Vec<(usize, &str, f64, f64, usize)> = bars
            .iter()
            .map(|b| (b.row, b.ip.as_str(), b.x, b.width, b.shade))
            .collect();
        assert_eq!(
            view,
            [
                (0, "10.0.0.1", 0.0, 50.0, 0),
                (0, "10.0.0.2", 50.0, 40.0, 1),
                (0, "10.0.0.1", 90.0, 10.0, 0),
            ]
        );
        // A period of an instant at the right edge is drawn inside the chart.
        let edge = history.timeline("b", 0, 1500, 100.0);
        assert_eq!((edge[0].x, edge[0].width), (97.0, 3.0));
        // b is outside the range; a filter keeps only its row.
        assert!(history.timeline("b", 0, 1000, 100.0).is_empty());
        assert_eq!(history.timeline("b", 0, 2000, 100.0)[0].row, 0);
    }

    #[test]
    fn ticks_are_round_steps_inside_the_range() {
        let hour = 3_600_000;
        let ticks_of_hour = ticks(10 * hour + 60_000, 11 * hour + 60_000, 4);
        assert_eq!(ticks_of_hour.len(), 4);
        assert_eq!(ticks_of_hour[0], 10 * hour + 15 * 60_000);
        let week = ticks(0, Zoom::Week.span_ms(), 4);
        assert_eq!(week[1] - week[0], 24 * hour);
        assert!(ticks(5, 5, 4).len() <= 1);
    }
}
