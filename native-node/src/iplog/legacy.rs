//! What the old DynIP 0.1e left behind, read and written as it did: its INI config file (`[DynIP:Server]`,
//! `[DynIP:Client]`) and its JSON log (`{"host": ["ip", "YYYY-MM-DD HH:MM:SS.ffffff"]}`, server local time).
//!
//! The JSON is written byte for byte as Python's `json.dump` wrote it (`", "` and `": "` separators, ASCII only,
//! no trailing newline, hosts in first-seen order), always by an atomic rewrite (temporary file, fsync,
//! rename), so a reader never sees half a file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDateTime, TimeZone};
use herald_core::iplog::{IpPeriod, DEFAULT_DYNIP_PORT};

/// The sections of an old DynIP INI file (either may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyConfig {
    /// `[DynIP:Server]`.
    pub server: Option<LegacyServerConfig>,
    /// `[DynIP:Client]`.
    pub client: Option<LegacyClientConfig>,
}

/// `[DynIP:Server]`: `server_ip`, `server_port`, `client_log_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyServerConfig {
    /// `server_ip:server_port`; `server_ip = *` means every address (`0.0.0.0`).
    pub listen: SocketAddr,
    /// `client_log_path`: the JSON file to keep up to date (relative to the working directory, as before).
    pub client_log_path: Option<PathBuf>,
}

/// `[DynIP:Client]`: `server_hostname`, `server_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyClientConfig {
    /// `server_hostname`.
    pub server_hostname: String,
    /// `server_port`.
    pub server_port: u16,
}

/// Why an INI file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyConfigError {
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
pub fn is_legacy_ini(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        line.eq_ignore_ascii_case("[DynIP:Server]") || line.eq_ignore_ascii_case("[DynIP:Client]")
    })
}

/// Parses an old DynIP INI file. Missing keys take the old defaults (`*`, 28630, no JSON file, `localhost`);
/// `;` and `#` start comments, on their own line or after a value; `key: value` works as in ConfigParser.
pub fn parse_ini(text: &str) -> Result<LegacyConfig, LegacyConfigError> {
    let mut config = LegacyConfig::default();
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
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            saw_server |= section.eq_ignore_ascii_case("DynIP:Server");
            saw_client |= section.eq_ignore_ascii_case("DynIP:Client");
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            return Err(LegacyConfigError::Syntax { line: index + 1 });
        };
        let key = key.trim().to_ascii_lowercase();
        let value = strip_inline_comment(value.trim()).to_owned();
        let port = |value: &str| {
            value
                .parse::<u16>()
                .map_err(|err| LegacyConfigError::Value {
                    section: section.clone(),
                    key: key.clone(),
                    value: value.to_owned(),
                    reason: err.to_string(),
                })
        };
        if section.eq_ignore_ascii_case("DynIP:Server") {
            match key.as_str() {
                "server_ip" => server_ip = Some(value),
                "server_port" => server_port = Some(port(&value)?),
                "client_log_path" if !value.is_empty() => log_path = Some(PathBuf::from(value)),
                _ => {}
            }
        } else if section.eq_ignore_ascii_case("DynIP:Client") {
            match key.as_str() {
                "server_hostname" => client_host = Some(value),
                "server_port" => client_port = Some(port(&value)?),
                _ => {}
            }
        }
    }
    if saw_server {
        let port = server_port.unwrap_or(DEFAULT_DYNIP_PORT);
        let ip = server_ip.unwrap_or_else(|| "*".to_owned());
        let listen = if ip == "*" || ip.is_empty() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
        } else {
            (ip.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| LegacyConfigError::Value {
                    section: "DynIP:Server".into(),
                    key: "server_ip".into(),
                    value: ip.clone(),
                    reason: "not an address or a host name that resolves".into(),
                })?
        };
        config.server = Some(LegacyServerConfig {
            listen,
            client_log_path: log_path,
        });
    }
    if saw_client {
        let server_hostname = client_host.unwrap_or_else(|| "localhost".to_owned());
        if server_hostname.is_empty() {
            return Err(LegacyConfigError::EmptyServerHostname);
        }
        config.client = Some(LegacyClientConfig {
            server_hostname,
            server_port: client_port.unwrap_or(DEFAULT_DYNIP_PORT),
        });
    }
    Ok(config)
}

/// Drops a `;` or `#` comment that follows a value after white space.
fn strip_inline_comment(value: &str) -> &str {
    let cut = value
        .char_indices()
        .find(|&(i, c)| (c == ';' || c == '#') && value[..i].ends_with(char::is_whitespace))
        .map_or(value.len(), |(i, _)| i);
    value[..cut].trim_end()
}

/// Unix ms as the old server wrote times: `YYYY-MM-DD HH:MM:SS.ffffff` in local time, without the fraction
/// when it is zero (Python's `isoformat(' ')`).
pub fn format_local_time(ms: u64) -> String {
    let Some(time) = Local.timestamp_millis_opt(ms as i64).single() else {
        return "1970-01-01 00:00:00".to_owned();
    };
    if ms.is_multiple_of(1000) {
        time.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// The reverse of [`format_local_time`] (microseconds are truncated to ms).
pub fn parse_local_time(text: &str) -> Option<u64> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let ms = Local
        .from_local_datetime(&naive)
        .earliest()?
        .timestamp_millis();
    u64::try_from(ms).ok()
}

/// The old JSON file for these periods (one per host, the latest, in first-seen order).
pub fn render_json(latest: &[IpPeriod]) -> String {
    let mut out = String::from("{");
    for (i, period) in latest.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_string(&mut out, &period.host);
        out.push_str(": [");
        push_json_string(&mut out, &period.ip.to_string());
        out.push_str(", ");
        push_json_string(&mut out, &format_local_time(period.last_seen_ms));
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

/// One entry of an old JSON file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyEntry {
    /// The key: the host name as the old server stored it.
    pub host: String,
    /// The address.
    pub ip: IpAddr,
    /// The time, read as local time (unix ms).
    pub at_ms: u64,
}

/// Why an old JSON file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LegacyJsonError {
    /// Not a JSON object of `"host": ["ip", "time"]`.
    #[error("not a DynIP JSON log: {0}")]
    Format(#[from] serde_json::Error),
}

/// Reads an old JSON file's entries in file order. Entries whose address or time does not parse are skipped
/// and returned apart (as their keys), for the caller to report.
pub fn parse_json(text: &str) -> Result<(Vec<LegacyEntry>, Vec<String>), LegacyJsonError> {
    let pairs: OrderedPairs = serde_json::from_str(text)?;
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (host, (ip, time)) in pairs.0 {
        match (ip.parse(), parse_local_time(&time)) {
            (Ok(ip), Some(at_ms)) => entries.push(LegacyEntry { host, ip, at_ms }),
            _ => skipped.push(host),
        }
    }
    Ok((entries, skipped))
}

/// A JSON object read as a list of pairs, keeping the file's order (serde_json's map would sort it).
struct OrderedPairs(Vec<(String, (String, String))>);

impl<'de> serde::Deserialize<'de> for OrderedPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedPairs;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// Replaces `path` with `contents` atomically: a temporary file beside it, fsync, rename.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ini_dynip_init_writes_is_read() {
        let text =
            "[DynIP:Server]\nserver_ip = *\nserver_port = 28630\nclient_log_path = dynip.json\n\n\
                    [DynIP:Client]\nserver_hostname = localhost\nserver_port = 28631\n";
        assert!(is_legacy_ini(text));
        let config = parse_ini(text).unwrap();
        let server = config.server.unwrap();
        assert_eq!(server.listen, "0.0.0.0:28630".parse().unwrap());
        assert_eq!(server.client_log_path, Some(PathBuf::from("dynip.json")));
        let client = config.client.unwrap();
        assert_eq!(client.server_hostname, "localhost");
        assert_eq!(client.server_port, 28631);
    }

    #[test]
    fn ini_details_comments_colons_addresses_and_errors() {
        let config = parse_ini(
            "; made by hand\n[DynIP:Server]\nserver_ip: 127.0.0.1   ; loopback only\nserver_port=9\n",
        )
        .unwrap();
        let server = config.server.unwrap();
        assert_eq!(server.listen, "127.0.0.1:9".parse().unwrap());
        assert_eq!(server.client_log_path, None);
        assert!(config.client.is_none());
        assert!(!is_legacy_ini("name = \"kitchen\"\n"));
        assert!(matches!(
            parse_ini("[DynIP:Server]\nserver_port = many\n"),
            Err(LegacyConfigError::Value { .. })
        ));
        assert_eq!(
            parse_ini("[DynIP:Server]\njunk\n"),
            Err(LegacyConfigError::Syntax { line: 2 })
        );
        assert_eq!(
            parse_ini("[DynIP:Client]\nserver_hostname =\n"),
            Err(LegacyConfigError::EmptyServerHostname)
        );
    }

    #[test]
    fn json_is_written_as_python_wrote_it_and_read_back() {
        let ms = parse_local_time("2026-11-23 14:06:56.739046").unwrap();
        assert_eq!(format_local_time(ms), "2026-11-23 14:06:56.739000");
        let whole = parse_local_time("2026-11-23 14:06:57").unwrap();
        assert_eq!(format_local_time(whole), "2026-11-23 14:06:57");
        let period = |host: &str, ip: &str, at| IpPeriod {
            host: host.into(),
            ip: ip.parse().unwrap(),
            first_seen_ms: at,
            last_seen_ms: at,
            reports: 1,
        };
        let text = render_json(&[
            period("vm", "127.0.0.1", ms),
            period("caf\u{e9}-\u{1f600}", "10.0.0.2", whole),
        ]);
        assert_eq!(
            text,
            "{\"vm\": [\"127.0.0.1\", \"2026-11-23 14:06:56.739000\"], \
             \"caf\\u00e9-\\ud83d\\ude00\": [\"10.0.0.2\", \"2026-11-23 14:06:57\"]}"
        );
        assert_eq!(render_json(&[]), "{}");
        let (entries, skipped) = parse_json(&text).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(
            entries.iter().map(|e| e.host.as_str()).collect::<Vec<_>>(),
            ["vm", "caf\u{e9}-\u{1f600}"]
        );
        assert_eq!(entries[0].at_ms, ms);
        let (_, skipped) = parse_json("{\"b\": [\"nope\", \"2026-01-01 00:00:00\"]}").unwrap();
        assert_eq!(skipped, ["b"]);
        assert!(parse_json("[1, 2]").is_err());
    }

    #[test]
    fn atomic_writes_replace_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("herald-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dynip.json");
        write_atomically(&path, b"{\"a\": 1, \"long\": 2}").unwrap();
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert!(!dir.join("dynip.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
