//! What DynIP 0.1e left on disk, read and written as it did, sans-IO: its INI config file (`[DynIP:Server]`,
//! `[DynIP:Client]`) and its JSON log (`{"host": ["ip", "YYYY-MM-DD HH:MM:SS.ffffff"]}`).
//!
//! The JSON is written byte for byte as Python's `json.dump` wrote it (`", "` and `": "` separators, ASCII only,
//! no trailing newline, hosts in the order given). Times are [`LogTime`]s: the naive local date and time the old
//! server wrote with `str(datetime.now())`, microseconds included, the fraction left out when it is zero. Turning
//! them into instants needs the local time zone, which is the node's business; so are files, host-name
//! resolution and the DynIP datagram (that one is [`crate::iplog::legacy_hostname`]).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use crate::iplog::DEFAULT_DYNIP_PORT;

/// The server section's name.
pub const SERVER_SECTION: &str = "DynIP:Server";
/// The client section's name.
pub const CLIENT_SECTION: &str = "DynIP:Client";
/// `server_ip` meaning "every address".
pub const ANY_ADDRESS: &str = "*";

/// The sections of an old DynIP INI file (either may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynipIni {
    /// `[DynIP:Server]`.
    pub server: Option<IniServer>,
    /// `[DynIP:Client]`.
    pub client: Option<IniClient>,
}

/// `[DynIP:Server]`: `server_ip`, `server_port`, `client_log_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniServer {
    /// `server_ip` as written: an address, a host name, or [`ANY_ADDRESS`] (also when missing or empty).
    pub server_ip: String,
    /// `server_port` ([`DEFAULT_DYNIP_PORT`] when missing).
    pub server_port: u16,
    /// `client_log_path`: the JSON file to keep up to date (relative to the server's working directory).
    pub client_log_path: Option<String>,
}

/// `[DynIP:Client]`: `server_hostname`, `server_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniClient {
    /// `server_hostname` (`localhost` when missing; never empty).
    pub server_hostname: String,
    /// `server_port` ([`DEFAULT_DYNIP_PORT`] when missing).
    pub server_port: u16,
}

/// Why an INI file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A line that is neither a section, a `key = value`, a comment nor blank.
    #[error("line {line}: expected `[section]` or `key = value`")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A value that does not parse.
    #[error("[{section}] {key} = {value:?}: {reason}")]
    Value {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `server_hostname` is empty (the old client's exit 4).
    #[error("[DynIP:Client] server_hostname is empty")]
    EmptyServerHostname,
}

/// True when `text` looks like an old DynIP INI file (it has a `[DynIP:Server]` or `[DynIP:Client]` section).
pub fn is_dynip_ini(text: &str) -> bool {
    text.lines().any(|line| {
        section_name(line.trim()).is_some_and(|name| {
            name.eq_ignore_ascii_case(SERVER_SECTION) || name.eq_ignore_ascii_case(CLIENT_SECTION)
        })
    })
}

fn section_name(line: &str) -> Option<&str> {
    line.strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .map(str::trim)
}

impl DynipIni {
    /// Parses an old DynIP INI file. Missing keys take the old defaults (`*`, 28630, no JSON file,
    /// `localhost`); `;` and `#` start comments, on their own line or after a value and white space; `key:
    /// value` works as in ConfigParser; section names and keys are case-insensitive; other sections and keys
    /// are ignored.
    pub fn parse(text: &str) -> Result<DynipIni, IniError> {
        let mut section = String::new();
        let mut server_ip = None;
        let mut server_port = None;
        let mut log_path = None;
        let mut client_host = None;
        let mut client_port = None;
        let (mut saw_server, mut saw_client) = (false, false);
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(name) = section_name(line) {
                section = name.to_owned();
                saw_server |= section.eq_ignore_ascii_case(SERVER_SECTION);
                saw_client |= section.eq_ignore_ascii_case(CLIENT_SECTION);
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                return Err(IniError::Syntax { line: index + 1 });
            };
            let key = key.trim().to_ascii_lowercase();
            let value = strip_inline_comment(value.trim()).to_owned();
            let port = |value: &str| {
                value.parse::<u16>().map_err(|err| IniError::Value {
                    section: section.clone(),
                    key: key.clone(),
                    value: value.to_owned(),
                    reason: err.to_string(),
                })
            };
            if section.eq_ignore_ascii_case(SERVER_SECTION) {
                match key.as_str() {
                    "server_ip" => server_ip = Some(value),
                    "server_port" => server_port = Some(port(&value)?),
                    "client_log_path" => log_path = Some(value).filter(|v| !v.is_empty()),
                    _ => {}
                }
            } else if section.eq_ignore_ascii_case(CLIENT_SECTION) {
                match key.as_str() {
                    "server_hostname" => client_host = Some(value),
                    "server_port" => client_port = Some(port(&value)?),
                    _ => {}
                }
            }
        }
        let server = saw_server.then(|| IniServer {
            server_ip: server_ip
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| ANY_ADDRESS.to_owned()),
            server_port: server_port.unwrap_or(DEFAULT_DYNIP_PORT),
            client_log_path: log_path,
        });
        let client = match saw_client {
            false => None,
            true => {
                let server_hostname = client_host.unwrap_or_else(|| "localhost".to_owned());
                if server_hostname.is_empty() {
                    return Err(IniError::EmptyServerHostname);
                }
                Some(IniClient {
                    server_hostname,
                    server_port: client_port.unwrap_or(DEFAULT_DYNIP_PORT),
                })
            }
        };
        Ok(DynipIni { server, client })
    }

    /// The file as `dynip-init` writes it: every key present, one `key = value` per line, a blank line
    /// between sections.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(server) = &self.server {
            let _ = writeln!(out, "[{SERVER_SECTION}]");
            let _ = writeln!(out, "server_ip = {}", server.server_ip);
            let _ = writeln!(out, "server_port = {}", server.server_port);
            let path = server.client_log_path.as_deref().unwrap_or_default();
            let _ = writeln!(out, "client_log_path = {path}");
        }
        if let Some(client) = &self.client {
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "[{CLIENT_SECTION}]");
            let _ = writeln!(out, "server_hostname = {}", client.server_hostname);
            let _ = writeln!(out, "server_port = {}", client.server_port);
        }
        out
    }
}

/// Drops a `;` or `#` comment that follows a value after white space.
fn strip_inline_comment(value: &str) -> &str {
    let cut = value
        .char_indices()
        .find(|&(i, c)| (c == ';' || c == '#') && value[..i].ends_with(char::is_whitespace))
        .map_or(value.len(), |(i, _)| i);
    value[..cut].trim_end()
}

/// A naive local date and time as the old server wrote it (`str(datetime.now())`):
/// `YYYY-MM-DD HH:MM:SS.ffffff`, without `.ffffff` when the microseconds are zero. No time zone: the old
/// server wrote its own local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogTime {
    /// 1..=9999.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31 (valid for the month).
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 0..=999_999.
    pub micro: u32,
}

impl LogTime {
    /// 1970-01-01 00:00:00, for a time that cannot be shown otherwise.
    pub const EPOCH: LogTime = LogTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        micro: 0,
    };

    /// A time from its parts, if they make a valid date and time.
    pub fn new(
        (year, month, day): (u16, u8, u8),
        (hour, minute, second): (u8, u8, u8),
        micro: u32,
    ) -> Option<LogTime> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60
            && micro < 1_000_000;
        valid.then_some(LogTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micro,
        })
    }

    /// Reads `YYYY-MM-DD HH:MM:SS[.f…]` (one to six fraction digits; Python writes six). Anything else, or
    /// a date or time that does not exist in the calendar, is `None`.
    pub fn parse(text: &str) -> Option<LogTime> {
        let bytes = text.as_bytes();
        if bytes.len() < 19 {
            return None;
        }
        let layout_ok = bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b' '
            && bytes[13] == b':'
            && bytes[16] == b':';
        if !layout_ok {
            return None;
        }
        let number = |from: usize, to: usize| -> Option<u32> {
            let digits = &bytes[from..to];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
        };
        let micro = match &bytes[19..] {
            [] => 0,
            [b'.', fraction @ ..] if (1..=6).contains(&fraction.len()) => {
                number(20, bytes.len())? * 10u32.pow(6 - fraction.len() as u32)
            }
            _ => return None,
        };
        LogTime::new(
            (
                u16::try_from(number(0, 4)?).ok()?,
                u8::try_from(number(5, 7)?).ok()?,
                u8::try_from(number(8, 10)?).ok()?,
            ),
            (
                u8::try_from(number(11, 13)?).ok()?,
                u8::try_from(number(14, 16)?).ok()?,
                u8::try_from(number(17, 19)?).ok()?,
            ),
            micro,
        )
    }
}

/// Python's `str(datetime)`.
impl fmt::Display for LogTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.micro != 0 {
            write!(f, ".{:06}", self.micro)?;
        }
        Ok(())
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One entry of the old JSON log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The key: the host name as the old server stored it.
    pub host: String,
    /// The address.
    pub ip: IpAddr,
    /// When the host last reported, in the server's local time.
    pub time: LogTime,
}

/// What [`parse_log`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedLog {
    /// The readable entries, in file order.
    pub entries: Vec<LogEntry>,
    /// Keys of the entries whose address or time does not parse, in file order.
    pub skipped: Vec<String>,
}

/// Why a file is not an old JSON log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// Not a JSON object of `"host": ["ip", "time"]`.
    #[error("not a DynIP JSON log: {0}")]
    Format(String),
}

/// Reads an old JSON log, keeping the file's order. Entries whose address or time does not parse are not
/// entries: their keys are returned apart, for the caller to report.
pub fn parse_log(text: &str) -> Result<ParsedLog, LogError> {
    let pairs: OrderedPairs =
        serde_json::from_str(text).map_err(|err| LogError::Format(err.to_string()))?;
    let mut log = ParsedLog::default();
    for (host, (ip, time)) in pairs.0 {
        match (ip.parse(), LogTime::parse(&time)) {
            (Ok(ip), Some(time)) => log.entries.push(LogEntry { host, ip, time }),
            _ => log.skipped.push(host),
        }
    }
    Ok(log)
}

/// The old JSON log for these entries, in their order, byte for byte as the old server's `json.dump` wrote it.
pub fn render_log(entries: &[LogEntry]) -> String {
    let mut out = String::from("{");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_string(&mut out, &entry.host);
        out.push_str(": [");
        push_json_string(&mut out, &entry.ip.to_string());
        out.push_str(", ");
        push_json_string(&mut out, &entry.time.to_string());
        out.push(']');
    }
    out.push('}');
    out
}

/// A JSON string as Python's `json.dumps` writes it with `ensure_ascii`: everything outside `' '..='~'` is
/// escaped, non-BMP characters as surrogate pairs.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A JSON object read as a list of pairs, keeping the file's order (serde_json's map would sort it).
struct OrderedPairs(Vec<(String, (String, String))>);

impl<'de> serde::Deserialize<'de> for OrderedPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedPairs;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of \"host\": [\"ip\", \"time\"]")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(OrderedPairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ini_dynip_init_writes_is_read_and_rendered_back() {
        let text =
            "[DynIP:Server]\nserver_ip = *\nserver_port = 28630\nclient_log_path = dynip.json\n\n\
                    [DynIP:Client]\nserver_hostname = localhost\nserver_port = 28631\n";
        assert!(is_dynip_ini(text));
        let config = DynipIni::parse(text).unwrap();
        let server = config.server.as_ref().unwrap();
        assert_eq!(server.server_ip, "*");
        assert_eq!(server.server_port, 28630);
        assert_eq!(server.client_log_path.as_deref(), Some("dynip.json"));
        let client = config.client.as_ref().unwrap();
        assert_eq!(client.server_hostname, "localhost");
        assert_eq!(client.server_port, 28631);
        assert_eq!(config.render(), text);
    }

    #[test]
    fn ini_details_comments_colons_defaults_and_errors() {
        let config = DynipIni::parse(
            "; made by hand\n[DynIP:Server]\nserver_ip: 127.0.0.1   ; loopback only\nserver_port=9\n",
        )
        .unwrap();
        let server = config.server.unwrap();
        assert_eq!(server.server_ip, "127.0.0.1");
        assert_eq!(server.server_port, 9);
        assert_eq!(server.client_log_path, None);
        assert!(config.client.is_none());
        let defaults = DynipIni::parse("[dynip:server]\nserver_ip =\n[DynIP:Client]\n").unwrap();
        assert_eq!(defaults.server.unwrap().server_ip, "*");
        assert_eq!(defaults.client.unwrap().server_hostname, "localhost");
        assert!(!is_dynip_ini("name = \"kitchen\"\n"));
        assert!(matches!(
            DynipIni::parse("[DynIP:Server]\nserver_port = many\n"),
            Err(IniError::Value { .. })
        ));
        assert_eq!(
            DynipIni::parse("[DynIP:Server]\njunk\n"),
            Err(IniError::Syntax { line: 2 })
        );
        assert_eq!(
            DynipIni::parse("[DynIP:Client]\nserver_hostname =\n"),
            Err(IniError::EmptyServerHostname)
        );
    }

    #[test]
    fn times_are_python_str_of_a_datetime() {
        let time = LogTime::parse("2026-11-29 06:39:54.798269").unwrap();
        assert_eq!(time.micro, 798_269);
        assert_eq!(time.to_string(), "2026-11-29 06:39:54.798269");
        let whole = LogTime::parse("2026-11-29 06:39:54").unwrap();
        assert_eq!(whole.micro, 0);
        assert_eq!(whole.to_string(), "2026-11-29 06:39:54");
        assert_eq!(
            LogTime::parse("2026-11-29 06:39:54.000001")
                .unwrap()
                .to_string(),
            "2026-11-29 06:39:54.000001"
        );
        assert_eq!(
            LogTime::parse("2026-11-23 10:00:01.5").unwrap().micro,
            500_000
        );
        assert!(LogTime::parse("2024-02-29 00:00:00").is_some());
        for bad in [
            "2026-02-29 00:00:00",
            "2026-13-01 00:00:00",
            "2026-11-29 24:00:00",
            "2026-11-29 06:39:60",
            "2026-11-29T06:39:54",
            "2026-11-29 06:39:54.",
            "2026-11-29 06:39:54.1234567",
            "2026-11-29 06:39:54 ",
            "0000-01-01 00:00:00",
            "2026-11-29 06:39:+4",
            "",
        ] {
            assert_eq!(LogTime::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_log_is_written_as_python_wrote_it_and_read_back() {
        let text = "{\"vm\": [\"127.0.0.1\", \"2026-11-23 14:06:56.739046\"], \
             \"caf\\u00e9-\\ud83d\\ude00\": [\"10.0.0.2\", \"2026-11-23 14:06:57\"]}";
        let log = parse_log(text).unwrap();
        assert!(log.skipped.is_empty());
        assert_eq!(
            log.entries
                .iter()
                .map(|e| e.host.as_str())
                .collect::<Vec<_>>(),
            ["vm", "caf\u{e9}-\u{1f600}"]
        );
        assert_eq!(log.entries[0].time.micro, 739_046);
        assert_eq!(render_log(&log.entries), text);
        assert_eq!(render_log(&[]), "{}");
        let log = parse_log(
            "{\"b\": [\"nope\", \"2026-01-01 00:00:00\"], \"c\": [\"10.0.0.1\", \"soon\"]}",
        )
        .unwrap();
        assert_eq!(log.skipped, ["b", "c"]);
        assert!(parse_log("[1, 2]").is_err());
        assert!(parse_log("{\"a\": [\"10.0.0.1\"]}").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = DynipIni::parse(&text);
            let _ = parse_log(&text);
            let _ = LogTime::parse(&text);
        }

        #[test]
        fn logs_round_trip(
            hosts in proptest::collection::vec(("\\PC{0,20}", any::<[u8; 4]>(), 1u16..=9999, 1u8..=12, 1u8..=28,
                0u8..24, 0u8..60, 0u8..60, 0u32..1_000_000), 0..8),
        ) {
            let entries: Vec<LogEntry> = hosts
                .into_iter()
                .map(|(host, ip, y, mo, d, h, mi, s, us)| LogEntry {
                    host,
                    ip: IpAddr::from(ip),
                    time: LogTime::new((y, mo, d), (h, mi, s), us).unwrap(),
                })
                .collect();
            let text = render_log(&entries);
            prop_assert!(text.is_ascii());
            let log = parse_log(&text).unwrap();
            prop_assert_eq!(&log.entries, &entries);
            prop_assert_eq!(render_log(&log.entries), text);
        }
    }
}
