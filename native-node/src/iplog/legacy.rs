//! The I/O half of what the old DynIP 0.1e left behind: its INI config file and JSON log are parsed and written
//! sans-IO by [`herald_core::legacy::dynip`]; this module resolves the INI's `server_ip`, turns the log's naive
//! local times into instants and back (the server's local time zone, microseconds kept), and replaces files
//! atomically (temporary file, fsync, rename), so a reader never sees half a file.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Local, NaiveDate, TimeZone, Timelike};
use herald_core::legacy::dynip::{self, DynipIni, IniError, LogEntry, LogTime, ANY_ADDRESS};

use super::store::LatestPeriod;

/// The sections of an old DynIP INI file (either may be missing), addresses resolved.
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
    /// The file does not parse (see [`IniError`]).
    #[error(transparent)]
    Ini(#[from] IniError),
    /// `server_ip` is neither `*`, an address nor a host name that resolves.
    #[error("[DynIP:Server] server_ip = {0:?}: not an address or a host name that resolves")]
    Unresolved(String),
}

/// True when `text` looks like an old DynIP INI file (it has a `[DynIP:Server]` or `[DynIP:Client]` section).
pub fn is_legacy_ini(text: &str) -> bool {
    dynip::is_dynip_ini(text)
}

/// Parses an old DynIP INI file (see [`DynipIni::parse`]) and resolves `server_ip`.
pub fn parse_ini(text: &str) -> Result<LegacyConfig, LegacyConfigError> {
    let ini = DynipIni::parse(text)?;
    let server = match ini.server {
        None => None,
        Some(server) => {
            let port = server.server_port;
            let listen = if server.server_ip == ANY_ADDRESS {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
            } else {
                (server.server_ip.as_str(), port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or(LegacyConfigError::Unresolved(server.server_ip))?
            };
            Some(LegacyServerConfig {
                listen,
                client_log_path: server.client_log_path.map(PathBuf::from),
            })
        }
    };
    let client = ini.client.map(|client| LegacyClientConfig {
        server_hostname: client.server_hostname,
        server_port: client.server_port,
    });
    Ok(LegacyConfig { server, client })
}

/// Unix microseconds as the server's local time, as the old server wrote it (`None` out of chrono's range).
pub fn to_log_time(us: u64) -> Option<LogTime> {
    let time = Local.timestamp_micros(i64::try_from(us).ok()?).single()?;
    LogTime::new(
        (
            u16::try_from(time.year()).ok()?,
            time.month() as u8,
            time.day() as u8,
        ),
        (time.hour() as u8, time.minute() as u8, time.second() as u8),
        time.timestamp_subsec_micros(),
    )
}

/// A local time the old server wrote, as unix microseconds. A time that a change of clocks made occur twice
/// is the earlier instant (both write back the same text); one that never occurred (skipped by a change of
/// clocks) is `None`.
pub fn from_log_time(time: LogTime) -> Option<u64> {
    let naive = NaiveDate::from_ymd_opt(
        i32::from(time.year),
        u32::from(time.month),
        u32::from(time.day),
    )?
    .and_hms_micro_opt(
        u32::from(time.hour),
        u32::from(time.minute),
        u32::from(time.second),
        time.micro,
    )?;
    let us = Local
        .from_local_datetime(&naive)
        .earliest()?
        .timestamp_micros();
    u64::try_from(us).ok()
}

/// Unix microseconds as the old server wrote times (`YYYY-MM-DD HH:MM:SS.ffffff`, local, without the fraction
/// when it is zero).
pub fn format_local_time(us: u64) -> String {
    to_log_time(us).unwrap_or(LogTime::EPOCH).to_string()
}

/// The reverse of [`format_local_time`], to the microsecond.
pub fn parse_local_time(text: &str) -> Option<u64> {
    from_log_time(LogTime::parse(text)?)
}

/// The old JSON file for these periods (one per host, the latest, in first-seen order), last-seen times to the
/// microsecond.
pub fn render_json(latest: &[LatestPeriod]) -> String {
    let entries: Vec<LogEntry> = latest
        .iter()
        .map(|latest| LogEntry {
            host: latest.period.host.clone(),
            ip: latest.period.ip,
            time: to_log_time(latest.last_seen_us).unwrap_or(LogTime::EPOCH),
        })
        .collect();
    dynip::render_log(&entries)
}

/// One entry of an old JSON file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyEntry {
    /// The key: the host name as the old server stored it.
    pub host: String,
    /// The address.
    pub ip: IpAddr,
    /// The time, read as local time (unix microseconds).
    pub at_us: u64,
}

/// Why an old JSON file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyJsonError {
    /// Not a JSON object of `"host": ["ip", "time"]`.
    #[error(transparent)]
    Format(#[from] dynip::LogError),
}

/// Reads an old JSON file's entries in file order. Entries whose address or time does not parse (or whose
/// local time never occurred here) are skipped and returned apart (as their keys), for the caller to report.
pub fn parse_json(text: &str) -> Result<(Vec<LegacyEntry>, Vec<String>), LegacyJsonError> {
    let log = dynip::parse_log(text)?;
    let mut entries = Vec::new();
    let mut skipped = log.skipped;
    for entry in log.entries {
        match from_log_time(entry.time) {
            Some(at_us) => entries.push(LegacyEntry {
                host: entry.host,
                ip: entry.ip,
                at_us,
            }),
            None => skipped.push(entry.host),
        }
    }
    Ok((entries, skipped))
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
    use herald_core::iplog::IpPeriod;

    #[test]
    fn the_ini_is_resolved() {
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
        let loopback =
            parse_ini("[DynIP:Server]\nserver_ip: 127.0.0.1 ; here\nserver_port=9\n").unwrap();
        assert_eq!(
            loopback.server.unwrap().listen,
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(matches!(
            parse_ini("[DynIP:Server]\nserver_port = many\n"),
            Err(LegacyConfigError::Ini(IniError::Value { .. }))
        ));
        assert!(matches!(
            parse_ini("[DynIP:Server]\nserver_ip = no.such.host.invalid\n"),
            Err(LegacyConfigError::Unresolved(_))
        ));
    }

    #[test]
    fn local_times_keep_their_microseconds() {
        for text in [
            "2026-11-29 06:39:54.798269",
            "2026-11-29 06:39:54",
            "2026-11-29 06:39:54.000001",
            "2026-01-01 00:00:00.999999",
        ] {
            let us = parse_local_time(text).unwrap();
            assert_eq!(format_local_time(us), text);
        }
        let us = parse_local_time("2026-11-29 06:39:54.798269").unwrap();
        assert_eq!(us % 1_000_000, 798_269);
    }

    #[test]
    fn json_is_written_as_python_wrote_it_and_read_back() {
        let text = "{\"vm\": [\"127.0.0.1\", \"2026-11-23 14:06:56.739046\"], \
             \"caf\\u00e9-\\ud83d\\ude00\": [\"10.0.0.2\", \"2026-11-23 14:06:57\"]}";
        let (entries, skipped) = parse_json(text).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(
            entries.iter().map(|e| e.host.as_str()).collect::<Vec<_>>(),
            ["vm", "caf\u{e9}-\u{1f600}"]
        );
        let latest: Vec<LatestPeriod> = entries
            .iter()
            .map(|entry| LatestPeriod {
                period: IpPeriod {
                    host: entry.host.clone(),
                    ip: entry.ip,
                    first_seen_ms: entry.at_us / 1000,
                    last_seen_ms: entry.at_us / 1000,
                    reports: 1,
                },
                last_seen_us: entry.at_us,
            })
            .collect();
        assert_eq!(render_json(&latest), text);
        assert_eq!(render_json(&[]), "{}");
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
