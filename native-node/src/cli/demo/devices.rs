//! The demo's devices, sans-IO: who they are (name, services, loopback addresses), what each publishes as
//! time passes ([`Device::tick`]) and how each answers a question ([`Device::answer`]). Readings follow a
//! seeded random walk, so a run is lively and a test is repeatable. Running them as nodes is `demo`'s job.

use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Temperature and humidity, every few seconds.
    Greenhouse,
    /// Wind and air pressure; answers with a forecast.
    Weather,
    /// Print jobs as they finish; answers with its queue and toner.
    Printer,
    /// A brew now and then; answers when the next cup is ready.
    Coffee,
}

/// One device of the demo LAN.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its node name.
    pub name: &'static str,
    /// What it does.
    pub role: Role,
    /// Services it advertises (name, port).
    pub services: &'static [(&'static str, u16)],
    /// The loopback address it reports to the IP log from.
    pub home: Ipv4Addr,
    /// The loopback address it reports from after a move (as a laptop moving to another network would).
    pub away: Ipv4Addr,
    /// The topics it publishes on, for the start-up line.
    pub topics: &'static str,
    /// What to ask it, for the start-up line.
    pub questions: &'static str,
}

/// The demo LAN.
pub const DEVICES: [Spec; 4] = [
    Spec {
        name: "greenhouse",
        role: Role::Greenhouse,
        services: &[("http", 8081)],
        home: Ipv4Addr::new(127, 0, 0, 11),
        away: Ipv4Addr::new(127, 0, 0, 21),
        topics: "sensors.greenhouse.temperature, sensors.greenhouse.humidity",
        questions: "temperature, humidity",
    },
    Spec {
        name: "weather-station",
        role: Role::Weather,
        services: &[("metar", 8082)],
        home: Ipv4Addr::new(127, 0, 0, 12),
        away: Ipv4Addr::new(127, 0, 0, 22),
        topics: "sensors.weather.wind, sensors.weather.pressure",
        questions: "anything: it forecasts",
    },
    Spec {
        name: "printer",
        role: Role::Printer,
        services: &[("ipp", 631)],
        home: Ipv4Addr::new(127, 0, 0, 13),
        away: Ipv4Addr::new(127, 0, 0, 23),
        topics: "office.printer.jobs",
        questions: "status",
    },
    Spec {
        name: "coffee-machine",
        role: Role::Coffee,
        services: &[("http", 8083)],
        home: Ipv4Addr::new(127, 0, 0, 14),
        away: Ipv4Addr::new(127, 0, 0, 24),
        topics: "kitchen.coffee",
        questions: "coffee",
    },
];

/// A device's state: its readings so far.
#[derive(Debug)]
pub struct Device {
    role: Role,
    rng: StdRng,
    ticks: u64,
    temperature: f64,
    humidity: f64,
    wind_kmh: f64,
    wind_from: usize,
    pressure: f64,
    pressure_before: f64,
    jobs_done: u32,
    queued: u32,
    toner: f64,
    cups: u32,
    brewing: u32,
}

const COMPASS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
const PEOPLE: [&str; 5] = ["anna", "ben", "chloe", "dev", "emil"];

impl Device {
    /// A device of `role` whose readings follow from `seed`.
    pub fn new(role: Role, seed: u64) -> Device {
        Device {
            role,
            rng: StdRng::seed_from_u64(seed),
            ticks: 0,
            temperature: 21.0,
            humidity: 62.0,
            wind_kmh: 12.0,
            wind_from: 7,
            pressure: 1013.0,
            pressure_before: 1013.0,
            jobs_done: 40,
            queued: 0,
            toner: 64.0,
            cups: 0,
            brewing: 0,
        }
    }

    /// One second passes: the readings move, and what the device publishes now (topic, text).
    pub fn tick(&mut self) -> Vec<(&'static str, String)> {
        let t = self.ticks;
        self.ticks += 1;
        let mut out = Vec::new();
        match self.role {
            Role::Greenhouse => {
                self.temperature = walk(&mut self.rng, self.temperature, 0.3, 14.0, 32.0);
                self.humidity = walk(&mut self.rng, self.humidity, 1.0, 35.0, 95.0);
                if t.is_multiple_of(2) {
                    out.push(("sensors.greenhouse.temperature", self.temperature_text()));
                }
                if t % 5 == 1 {
                    out.push(("sensors.greenhouse.humidity", self.humidity_text()));
                }
            }
            Role::Weather => {
                self.wind_kmh = walk(&mut self.rng, self.wind_kmh, 2.0, 0.0, 60.0);
                if self.rng.gen_bool(0.05) {
                    self.wind_from = (self.wind_from + 1) % COMPASS.len();
                }
                if t.is_multiple_of(10) {
                    self.pressure_before = self.pressure;
                }
                self.pressure = walk(&mut self.rng, self.pressure, 0.4, 975.0, 1045.0);
                if t.is_multiple_of(3) {
                    out.push(("sensors.weather.wind", self.wind_text()));
                }
                if t % 10 == 5 {
                    out.push((
                        "sensors.weather.pressure",
                        format!("{:.0} hPa", self.pressure),
                    ));
                }
            }
            Role::Printer => {
                if self.rng.gen_bool(0.15) {
                    self.queued += 1;
                }
                if self.queued > 0 && t.is_multiple_of(4) {
                    self.queued -= 1;
                    self.jobs_done += 1;
                    let pages = self.rng.gen_range(1..=12);
                    self.toner = (self.toner - f64::from(pages) * 0.1).max(3.0);
                    let who = PEOPLE[self.rng.gen_range(0..PEOPLE.len())];
                    out.push((
                        "office.printer.jobs",
                        format!("job {} printed for {who}: {pages} pages", self.jobs_done),
                    ));
                }
            }
            Role::Coffee => {
                if self.brewing > 0 {
                    self.brewing -= 1;
                    if self.brewing == 0 {
                        self.cups += 1;
                        out.push(("kitchen.coffee", format!("cup {} is ready", self.cups)));
                    }
                } else if self.rng.gen_bool(0.1) {
                    self.brewing = 6;
                    out.push(("kitchen.coffee", "brewing a cup".to_owned()));
                }
            }
        }
        out
    }

    /// The device's answer to `question`, in its own way (every device answers `ping` with `pong`).
    pub fn answer(&self, question: &str) -> String {
        let question = question.trim().to_lowercase();
        if question == "ping" {
            return "pong".to_owned();
        }
        match self.role {
            Role::Greenhouse if question.contains("humid") => self.humidity_text(),
            Role::Greenhouse if question.contains("temp") => self.temperature_text(),
            Role::Greenhouse => format!(
                "{} and {} humidity (ask me `temperature` or `humidity`)",
                self.temperature_text(),
                self.humidity_text()
            ),
            Role::Weather => {
                let outlook = match self.pressure - self.pressure_before {
                    d if d > 0.5 => "clearing up",
                    d if d < -0.5 => "rain on the way",
                    _ => "much the same",
                };
                format!(
                    "{outlook}: {:.0} hPa, wind {}",
                    self.pressure,
                    self.wind_text()
                )
            }
            Role::Printer => format!(
                "{}: {} queued, {} printed, toner {:.0} %",
                if self.queued == 0 {
                    "ready"
                } else {
                    "printing"
                },
                self.queued,
                self.jobs_done,
                self.toner
            ),
            Role::Coffee if self.brewing > 0 => {
                format!("brewing: ready in {} s", self.brewing)
            }
            Role::Coffee if question.contains("coffee") || question.contains("brew") => {
                format!(
                    "{} cups so far; the next one starts when someone asks nicely",
                    self.cups
                )
            }
            Role::Coffee => "I only know about coffee".to_owned(),
        }
    }

    fn temperature_text(&self) -> String {
        format!("{:.1} °C", self.temperature)
    }

    fn humidity_text(&self) -> String {
        format!("{:.0} %", self.humidity)
    }

    fn wind_text(&self) -> String {
        format!("{} {:.0} km/h", COMPASS[self.wind_from], self.wind_kmh)
    }
}

/// A random step of at most `step` either way, kept within `low..=high`.
fn walk(rng: &mut StdRng, value: f64, step: f64, low: f64, high: f64) -> f64 {
    (value + rng.gen_range(-step..=step)).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(role: Role, seconds: u64) -> (Device, Vec<(&'static str, String)>) {
        let mut device = Device::new(role, 7);
        let mut published = Vec::new();
        for _ in 0..seconds {
            published.extend(device.tick());
        }
        (device, published)
    }

    #[test]
    fn the_greenhouse_publishes_within_seconds_and_answers_with_what_it_published() {
        let (device, published) = run(Role::Greenhouse, 10);
        let temperatures: Vec<&String> = published
            .iter()
            .filter(|(topic, _)| *topic == "sensors.greenhouse.temperature")
            .map(|(_, text)| text)
            .collect();
        assert_eq!(temperatures.len(), 5);
        assert!(published
            .iter()
            .any(|(topic, _)| *topic == "sensors.greenhouse.humidity"));
        // The last published temperature is the one it answers (published at tick 8; tick 9 moved it on, so
        // check the form and the range instead of the exact value).
        let answer = device.answer("Temperature?");
        assert!(answer.ends_with(" °C"), "{answer}");
        let value: f64 = answer.trim_end_matches(" °C").parse().unwrap();
        assert!((14.0..=32.0).contains(&value));
        assert!(device.answer("humidity").ends_with(" %"));
    }

    #[test]
    fn every_device_answers_ping_and_something_of_its_own() {
        let mut answers = std::collections::BTreeSet::new();
        for spec in DEVICES {
            let (device, published) = run(spec.role, 30);
            assert_eq!(device.answer(" PING "), "pong");
            assert!(answers.insert(device.answer("status")), "{}", spec.name);
            assert!(
                !published.is_empty(),
                "{} published nothing in 30 s",
                spec.name
            );
            for (topic, _) in &published {
                let family = topic.split('.').take(2).collect::<Vec<_>>().join(".");
                assert!(
                    spec.topics.contains(&family),
                    "{topic} not in {}",
                    spec.topics
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        assert_eq!(run(Role::Weather, 20).1, run(Role::Weather, 20).1);
        assert_eq!(run(Role::Printer, 60).1, run(Role::Printer, 60).1);
    }

    #[test]
    fn devices_have_distinct_names_and_loopback_addresses() {
        let mut seen = std::collections::BTreeSet::new();
        for spec in DEVICES {
            assert!(spec.home.is_loopback() && spec.away.is_loopback());
            assert!(seen.insert(spec.name) && seen.insert(spec.topics));
            assert_ne!(spec.home, spec.away);
        }
    }
}
