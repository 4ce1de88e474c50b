//! The IP log's SQLite store: one row per host per distinct address period (`host, ip, first_seen, last_seen,
//! reports`), so a steady host costs one `UPDATE` per report and every change of address is kept.
//!
//! [`Store`] is the one writer (the process that serves DynIP): it keeps the latest period of every known host
//! in memory, applies a whole batch of [`Sighting`]s in one transaction, and only then updates that memory, so
//! a failed commit (disk full, database locked) leaves both the file and the cache as they were. The database
//! runs in WAL mode: a commit is durable against a crash or `kill -9` with `synchronous=NORMAL`, and against
//! power loss with [`SyncMode::Full`]. [`StoreReader`] reads the same file from other processes
//! (`herald dynip history|export`) while the writer runs.
//!
//! The schema is versioned with `PRAGMA user_version` and upgraded by [`MIGRATIONS`] when opened. Times are
//! stored as unix microseconds (schema 2; schema 1 kept milliseconds), so a time imported from an old DynIP
//! log, which the old server wrote to the microsecond, is exported as it came; the wire types
//! ([`IpPeriod`], [`IpChange`]) carry milliseconds. Sockets, queues and clocks are someone else's business:
//! times are passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use herald_core::bridge::{HistoryPage, HistoryQuery};
use herald_core::iplog::{IpChange, IpChangeSource, IpPeriod};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// Schema migrations, oldest first: migration `i` takes the database from `user_version = i` to `i + 1`.
/// Append only; never edit one that has shipped.
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE periods (
        id            INTEGER PRIMARY KEY,
        host          TEXT    NOT NULL,
        ip            TEXT    NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER NOT NULL,
        reports       INTEGER NOT NULL
    );
    CREATE INDEX periods_by_host ON periods (host, first_seen_ms);
",
    // 2: times in microseconds (the old DynIP log's precision). Rows keep their ids: the order hosts were
    // first stored is the legacy JSON's order.
    "
    CREATE TABLE periods_us (
        id            INTEGER PRIMARY KEY,
        host          TEXT    NOT NULL,
        ip            TEXT    NOT NULL,
        first_seen_us INTEGER NOT NULL,
        last_seen_us  INTEGER NOT NULL,
        reports       INTEGER NOT NULL
    );
    INSERT INTO periods_us (id, host, ip, first_seen_us, last_seen_us, reports)
        SELECT id, host, ip, min(first_seen_ms, 9223372036854775) * 1000,
               min(last_seen_ms, 9223372036854775) * 1000, reports
        FROM periods;
    DROP TABLE periods;
    ALTER TABLE periods_us RENAME TO periods;
    CREATE INDEX periods_by_host ON periods (host, first_seen_us);
",
];

/// Default bound on distinct hosts. At the cap, sightings of new hosts are refused (and counted by the
/// server); hosts already known keep updating.
pub const DEFAULT_MAX_HOSTS: usize = 10_000;

/// Largest page a history query returns, whatever its `limit` asks for.
pub const MAX_HISTORY_PAGE: u32 = 10_000;

/// How long a write waits for another process's lock before failing with [`StoreError::Locked`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// How hard a commit pushes data to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// `synchronous=NORMAL` in WAL mode: a committed report survives a crash or `kill -9` of the process, and
    /// the last commits before a power loss may be lost (the database stays consistent).
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on the disk before it is acknowledged, power loss included.
    Full,
}

impl FromStr for SyncMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(SyncMode::Normal),
            "full" => Ok(SyncMode::Full),
            other => Err(format!("unknown sync mode {other:?} (normal or full)")),
        }
    }
}

/// How the store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Durability of each commit.
    pub sync: SyncMode,
    /// Bound on distinct hosts (see [`DEFAULT_MAX_HOSTS`]).
    pub max_hosts: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync: SyncMode::Normal,
            max_hosts: DEFAULT_MAX_HOSTS,
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created (missing directory, permissions, not a database).
    #[error("cannot open the IP log {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file does not exist or holds no IP log (for readers, which never create one).
    #[error("no IP log in {0}")]
    Missing(PathBuf),
    /// The file was written by a newer Herald with a schema this one does not know.
    #[error(
        "the IP log has schema version {found}, this herald knows up to {known}: upgrade herald"
    )]
    TooNew {
        /// `user_version` found.
        found: u32,
        /// Newest version this build knows.
        known: u32,
    },
    /// Another process holds the database's write lock (longer than [`BUSY_TIMEOUT`]).
    #[error("the IP log database is locked by another process")]
    Locked,
    /// The disk (or the file system's quota) is full.
    #[error("the disk holding the IP log is full")]
    DiskFull,
    /// Any other SQLite failure.
    #[error("IP log database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sqlite(err),
        }
    }
}

/// A host seen at an address: from a report, a legacy datagram or discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The host name (already validated).
    pub host: String,
    /// Where it was seen.
    pub ip: IpAddr,
    /// When (unix microseconds: the server's clock, or an imported old log's time).
    pub at_us: u64,
    /// How it was learned.
    pub source: IpChangeSource,
}

/// What a sighting did to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Same address as before: the current period's `last_seen` and `reports` were updated.
    Updated,
    /// A new host, or a new address for a known one: a new period began.
    Changed(IpChange),
    /// A new host while the host cap is reached: nothing stored.
    RefusedHostCap,
}

/// A host's latest period, with its last sighting to the microsecond (what the old JSON log shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestPeriod {
    /// The period (times in milliseconds, as on every wire).
    pub period: IpPeriod,
    /// The period's last sighting in unix microseconds.
    pub last_seen_us: u64,
}

/// The latest period of a known host, kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    period_id: i64,
    ip: IpAddr,
}

/// The writer's handle on the database.
pub struct Store {
    conn: Connection,
    /// Latest period of every known host; its size is the host count the cap applies to.
    current: HashMap<String, Current>,
    max_hosts: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("hosts", &self.current.len())
            .field("max_hosts", &self.max_hosts)
            .finish()
    }
}

impl Store {
    /// Opens (creating it if needed) the database at `path`, upgrades its schema, and loads the latest period
    /// of every host.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|err| match StoreError::from(err) {
                StoreError::Sqlite(source) => open_error(source),
                other => other,
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), %mode, "the IP log could not switch to WAL mode");
        }
        let synchronous = match options.sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        migrate(&mut conn, MIGRATIONS)?;
        let current = load_current(&conn)?;
        Ok(Store {
            conn,
            current,
            max_hosts: options.max_hosts,
        })
    }

    /// Hosts known (the count the host cap applies to).
    pub fn known_hosts(&self) -> usize {
        self.current.len()
    }

    /// True when `host` has a period stored.
    pub fn knows(&self, host: &str) -> bool {
        self.current.contains_key(host)
    }

    /// Applies `batch` in one transaction, in order, and returns what each sighting did. On error nothing of
    /// the batch is stored and the in-memory state is unchanged.
    pub fn record(&mut self, batch: &[Sighting]) -> Result<Vec<Recorded>, StoreError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        // Hosts whose period begins in this batch: applied to `self.current` only after the commit.
        let mut staged: HashMap<&str, Current> = HashMap::new();
        let mut new_hosts = 0usize;
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE periods SET last_seen_us = max(last_seen_us, ?1), reports = reports + 1 WHERE id = ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO periods (host, ip, first_seen_us, last_seen_us, reports) VALUES (?1, ?2, ?3, ?3, 1)",
            )?;
            for sighting in batch {
                let known = staged
                    .get(sighting.host.as_str())
                    .or_else(|| self.current.get(&sighting.host))
                    .copied();
                let old_ip = match known {
                    Some(current) if current.ip == sighting.ip => {
                        update.execute(params![to_sql(sighting.at_us), current.period_id])?;
                        outcomes.push(Recorded::Updated);
                        continue;
                    }
                    Some(current) => Some(current.ip),
                    None if self.current.len() + new_hosts >= self.max_hosts => {
                        outcomes.push(Recorded::RefusedHostCap);
                        continue;
                    }
                    None => {
                        new_hosts += 1;
                        None
                    }
                };
                insert.execute(params![
                    sighting.host,
                    sighting.ip.to_string(),
                    to_sql(sighting.at_us)
                ])?;
                staged.insert(
                    &sighting.host,
                    Current {
                        period_id: tx.last_insert_rowid(),
                        ip: sighting.ip,
                    },
                );
                outcomes.push(Recorded::Changed(IpChange {
                    host: sighting.host.clone(),
                    old_ip,
                    new_ip: sighting.ip,
                    at_ms: sighting.at_us / 1000,
                    source: sighting.source,
                }));
            }
        }
        tx.commit()?;
        for (host, current) in staged {
            match self.current.get_mut(host) {
                Some(slot) => *slot = current,
                None => {
                    self.current.insert(host.to_owned(), current);
                }
            }
        }
        Ok(outcomes)
    }

    /// A page of history (see [`StoreReader::history`]), read through the writer's connection.
    pub fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        history(&self.conn, query)
    }

    /// The latest period of every host, in the order hosts were first stored.
    pub fn latest_per_host(&self) -> Result<Vec<LatestPeriod>, StoreError> {
        latest_per_host(&self.conn)
    }
}

/// A read-only view of a database another process (or task) writes.
pub struct StoreReader {
    conn: Connection,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreReader")
    }
}

impl StoreReader {
    /// Opens an existing IP log for reading; never creates one. A log of an older schema is upgraded first,
    /// as the writer would when it next starts (the queries speak only the newest schema).
    pub fn open(path: &Path) -> Result<StoreReader, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        // Read-write (without create) so SQLite can use the WAL index even when the writer is not running;
        // nothing but an upgrade of an older schema writes.
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version = user_version(&conn).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        let known = MIGRATIONS.len() as u32;
        if version == 0 {
            return Err(StoreError::Missing(path.to_owned()));
        }
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        if version < known {
            migrate(&mut conn, MIGRATIONS)?;
        }
        Ok(StoreReader { conn })
    }

    /// Periods matching `query` (host, time range), by host then first seen, one page of at most
    /// `min(query.limit, MAX_HISTORY_PAGE)` rows from `query.offset`.
    pub fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        history(&self.conn, query)
    }

    /// The latest period of every host, in the order hosts were first stored (the legacy JSON's order).
    pub fn latest_per_host(&self) -> Result<Vec<LatestPeriod>, StoreError> {
        latest_per_host(&self.conn)
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema from its `user_version` up to `migrations.len()`, one transaction per step.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let known = migrations.len() as u32;
    // The immediate transaction takes the write lock first, so two processes opening a fresh file do not
    // both run the first migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (step, sql) in migrations.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as u32 + 1)?;
        tracing::info!(version = step + 1, "IP log schema upgraded");
    }
    tx.commit()?;
    Ok(())
}

fn load_current(conn: &Connection) -> Result<HashMap<String, Current>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT host, id, ip FROM periods WHERE id IN (SELECT max(id) FROM periods GROUP BY host)",
    )?;
    let mut current = HashMap::new();
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let host: String = row.get(0)?;
        let period_id: i64 = row.get(1)?;
        let ip = parse_ip(row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?)?;
        current.insert(host, Current { period_id, ip });
    }
    Ok(current)
}

/// SQLite integers are signed; times and counts are stored as such (they never come near `i64::MAX`).
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn parse_ip(text: &str) -> rusqlite::Result<IpAddr> {
    text.parse().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    })
}

/// A period from `host, ip, first_seen_us, last_seen_us, reports`.
fn period_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IpPeriod> {
    Ok(IpPeriod {
        host: row.get(0)?,
        ip: parse_ip(row.get_ref(1)?.as_str()?)?,
        first_seen_ms: from_sql(row.get(2)?) / 1000,
        last_seen_ms: from_sql(row.get(3)?) / 1000,
        reports: from_sql(row.get(4)?),
    })
}

/// Host, then a range of unix microseconds (a period is in it if it overlaps it).
const HISTORY_FILTER: &str = "(?1 IS NULL OR host = ?1) AND (?2 IS NULL OR last_seen_us >= ?2) \
     AND (?3 IS NULL OR first_seen_us <= ?3)";

fn history(conn: &Connection, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let limit = query.limit.min(MAX_HISTORY_PAGE);
    // Milliseconds on the wire: `to_ms` takes in the whole millisecond.
    let from_us = query.from_ms.map(|ms| to_sql(ms.saturating_mul(1000)));
    let to_us = query
        .to_ms
        .map(|ms| to_sql(ms.saturating_mul(1000).saturating_add(999)));
    let total = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM periods WHERE {HISTORY_FILTER}"
        ))?
        .query_row(params![query.host, from_us, to_us], |row| row.get(0))
        .map(from_sql)?;
    let mut statement = conn.prepare_cached(&format!(
        "SELECT host, ip, first_seen_us, last_seen_us, reports FROM periods WHERE {HISTORY_FILTER} \
         ORDER BY host, first_seen_us, id LIMIT ?4 OFFSET ?5"
    ))?;
    let periods = statement
        .query_map(
            params![query.host, from_us, to_us, limit, to_sql(query.offset)],
            period_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let end = query.offset + periods.len() as u64;
    Ok(HistoryPage {
        next_offset: (end < total && !periods.is_empty()).then_some(end),
        periods,
        total,
    })
}

fn latest_per_host(conn: &Connection) -> Result<Vec<LatestPeriod>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT p.host, p.ip, p.first_seen_us, p.last_seen_us, p.reports FROM periods p \
         JOIN (SELECT max(id) AS latest, min(id) AS oldest FROM periods GROUP BY host) h ON p.id = h.latest \
         ORDER BY h.oldest",
    )?;
    let periods = statement
        .query_map([], |row| {
            Ok(LatestPeriod {
                period: period_from_row(row)?,
                last_seen_us: from_sql(row.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new(name);
        let path = dir.path().join("iplog.db");
        (dir, path)
    }

    /// A temp directory removed on drop (no extra crate for it).
    mod tempdir {
        use std::path::{Path, PathBuf};

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new(name: &str) -> Dir {
                let path = std::env::temp_dir().join(format!(
                    "herald-store-{name}-{}-{:x}",
                    std::process::id(),
                    rand::random::<u32>()
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn seen(host: &str, ip: &str, at_ms: u64) -> Sighting {
        Sighting {
            host: host.into(),
            ip: ip.parse().unwrap(),
            at_us: at_ms * 1000,
            source: IpChangeSource::Report,
        }
    }

    fn all(store: &Store, host: Option<&str>) -> Vec<IpPeriod> {
        store
            .history(&HistoryQuery {
                host: host.map(str::to_owned),
                from_ms: None,
                to_ms: None,
                offset: 0,
                limit: 1000,
            })
            .unwrap()
            .periods
    }

    #[test]
    fn a_steady_host_has_one_period_and_a_move_starts_another() {
        let (_dir, path) = temp_db("periods");
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        let outcomes = store
            .record(&[
                seen("a", "10.0.0.1", 1_000),
                seen("a", "10.0.0.1", 2_000),
                seen("a", "10.0.0.2", 3_000),
                seen("a", "10.0.0.2", 4_000),
                seen("a", "10.0.0.1", 5_000),
            ])
            .unwrap();
        assert!(matches!(&outcomes[0], Recorded::Changed(c) if c.old_ip.is_none()));
        assert_eq!(outcomes[1], Recorded::Updated);
        assert!(
            matches!(&outcomes[2], Recorded::Changed(c) if c.old_ip == Some("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(outcomes[3], Recorded::Updated);
        assert!(matches!(&outcomes[4], Recorded::Changed(_)));
        let periods = all(&store, Some("a"));
        let summary: Vec<_> = periods
            .iter()
            .map(|p| (p.ip.to_string(), p.first_seen_ms, p.last_seen_ms, p.reports))
            .collect();
        assert_eq!(
            summary,
            [
                ("10.0.0.1".to_owned(), 1_000, 2_000, 2),
                ("10.0.0.2".to_owned(), 3_000, 4_000, 2),
                ("10.0.0.1".to_owned(), 5_000, 5_000, 1),
            ]
        );
    }

    #[test]
    fn the_store_survives_reopening() {
        let (_dir, path) = temp_db("reopen");
        {
            let mut store = Store::open(&path, StoreOptions::default()).unwrap();
            store.record(&[seen("a", "10.0.0.1", 1_000)]).unwrap();
        }
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.known_hosts(), 1);
        // Known host, same address: an update, not a new period.
        assert_eq!(
            store.record(&[seen("a", "10.0.0.1", 2_000)]).unwrap(),
            [Recorded::Updated]
        );
        assert_eq!(all(&store, None).len(), 1);
        let reader = StoreReader::open(&path).unwrap();
        assert_eq!(reader.latest_per_host().unwrap()[0].period.reports, 2);
    }

    #[test]
    fn at_the_host_cap_new_hosts_are_refused_and_known_hosts_keep_updating() {
        let (_dir, path) = temp_db("cap");
        let options = StoreOptions {
            max_hosts: 2,
            ..StoreOptions::default()
        };
        let mut store = Store::open(&path, options).unwrap();
        let outcomes = store
            .record(&[
                seen("a", "10.0.0.1", 1),
                seen("b", "10.0.0.2", 2),
                seen("c", "10.0.0.3", 3),
                seen("a", "10.0.0.9", 4),
                seen("b", "10.0.0.2", 5),
            ])
            .unwrap();
        assert_eq!(outcomes[2], Recorded::RefusedHostCap);
        assert!(matches!(outcomes[3], Recorded::Changed(_)));
        assert_eq!(outcomes[4], Recorded::Updated);
        assert!(!store.knows("c"));
        assert_eq!(store.known_hosts(), 2);
        drop(store);
        // The cap holds across restarts too.
        let mut store = Store::open(&path, options).unwrap();
        assert_eq!(
            store.record(&[seen("d", "10.0.0.4", 6)]).unwrap(),
            [Recorded::RefusedHostCap]
        );
    }

    #[test]
    fn history_filters_by_host_and_time_and_pages() {
        let (_dir, path) = temp_db("history");
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        store
            .record(&[
                seen("a", "10.0.0.1", 100),
                seen("a", "10.0.0.2", 200),
                seen("a", "10.0.0.3", 300),
                seen("b", "10.0.0.4", 150),
            ])
            .unwrap();
        let query = |host: Option<&str>, from, to, offset, limit| HistoryQuery {
            host: host.map(str::to_owned),
            from_ms: from,
            to_ms: to,
            offset,
            limit,
        };
        let page = store.history(&query(None, None, None, 0, 3)).unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.next_offset, Some(3));
        assert_eq!(
            page.periods
                .iter()
                .map(|p| p.first_seen_ms)
                .collect::<Vec<_>>(),
            [100, 200, 300]
        );
        let rest = store.history(&query(None, None, None, 3, 3)).unwrap();
        assert_eq!(rest.periods.len(), 1);
        assert_eq!(rest.next_offset, None);
        let window = store
            .history(&query(Some("a"), Some(150), Some(250), 0, 10))
            .unwrap();
        assert_eq!(
            window
                .periods
                .iter()
                .map(|p| p.first_seen_ms)
                .collect::<Vec<_>>(),
            [200]
        );
    }

    #[test]
    fn microseconds_are_kept_and_the_wire_sees_milliseconds() {
        let (_dir, path) = temp_db("micros");
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        let at = |host: &str, ip: &str, at_us| Sighting {
            at_us,
            ..seen(host, ip, 0)
        };
        let outcomes = store
            .record(&[
                at("a", "10.0.0.1", 1_000_123),
                at("a", "10.0.0.1", 2_000_999),
            ])
            .unwrap();
        assert!(matches!(&outcomes[0], Recorded::Changed(c) if c.at_ms == 1_000));
        let latest = store.latest_per_host().unwrap();
        assert_eq!(latest[0].last_seen_us, 2_000_999);
        assert_eq!(
            (
                latest[0].period.first_seen_ms,
                latest[0].period.last_seen_ms
            ),
            (1_000, 2_000)
        );
        // A history range in milliseconds takes in the whole millisecond.
        let query = |from_ms, to_ms| HistoryQuery {
            host: None,
            from_ms: Some(from_ms),
            to_ms: Some(to_ms),
            offset: 0,
            limit: 10,
        };
        assert_eq!(store.history(&query(2_000, 2_000)).unwrap().total, 1);
        assert_eq!(store.history(&query(0, 1_000)).unwrap().total, 1);
        assert_eq!(store.history(&query(0, 999)).unwrap().total, 0);
        assert_eq!(store.history(&query(2_001, 3_000)).unwrap().total, 0);
    }

    #[test]
    fn a_database_of_the_first_schema_opens_and_keeps_its_history() {
        let (_dir, path) = temp_db("schema-1");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate(&mut conn, &MIGRATIONS[..1]).unwrap();
            conn.execute_batch(
                "INSERT INTO periods (host, ip, first_seen_ms, last_seen_ms, reports) VALUES
                    ('zulu', '10.0.0.1', 1000, 2000, 2),
                    ('alpha', '10.0.0.2', 1500, 1500, 1),
                    ('zulu', '10.0.0.3', 3000, 4000, 5);",
            )
            .unwrap();
        }
        // `herald dynip export` may come first: a reader upgrades the schema too.
        let reader = StoreReader::open(&path).unwrap();
        assert_eq!(reader.latest_per_host().unwrap().len(), 2);
        drop(reader);
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.known_hosts(), 2);
        let latest = store.latest_per_host().unwrap();
        let summary: Vec<_> = latest
            .iter()
            .map(|l| {
                (
                    l.period.host.as_str(),
                    l.period.ip.to_string(),
                    l.last_seen_us,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("zulu", "10.0.0.3".to_owned(), 4_000_000),
                ("alpha", "10.0.0.2".to_owned(), 1_500_000)
            ]
        );
        let periods = all(&store, Some("zulu"));
        assert_eq!(
            periods
                .iter()
                .map(|p| (p.first_seen_ms, p.last_seen_ms, p.reports))
                .collect::<Vec<_>>(),
            [(1_000, 2_000, 2), (3_000, 4_000, 5)]
        );
        // The upgraded store goes on: same address extends the latest period, in microseconds.
        assert_eq!(
            store.record(&[seen("zulu", "10.0.0.3", 5_000)]).unwrap(),
            [Recorded::Updated]
        );
        drop(store);
        assert_eq!(
            user_version(&Connection::open(&path).unwrap()).unwrap(),
            MIGRATIONS.len() as u32
        );
        let reader = StoreReader::open(&path).unwrap();
        assert_eq!(reader.latest_per_host().unwrap()[0].last_seen_us, 5_000_000);
    }

    #[test]
    fn migrations_run_once_in_order_and_a_newer_schema_is_refused() {
        let (_dir, path) = temp_db("migrate");
        let mut conn = Connection::open(&path).unwrap();
        let steps = [
            "CREATE TABLE t (a INTEGER)",
            "ALTER TABLE t ADD COLUMN b TEXT",
        ];
        migrate(&mut conn, &steps[..1]).unwrap();
        conn.execute("INSERT INTO t (a) VALUES (7)", []).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
        migrate(&mut conn, &steps).unwrap();
        migrate(&mut conn, &steps).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let row: (i64, Option<String>) = conn
            .query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(row, (7, None));
        assert!(matches!(
            migrate(&mut conn, &steps[..1]),
            Err(StoreError::TooNew { found: 2, known: 1 })
        ));
    }

    #[test]
    fn a_database_from_a_newer_herald_is_refused_with_a_clear_error() {
        let (_dir, path) = temp_db("too-new");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Store::open(&path, StoreOptions::default()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
        assert!(err.to_string().contains("upgrade herald"));
        assert!(matches!(
            StoreReader::open(&path),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn readers_never_create_a_log() {
        let (dir, path) = temp_db("missing");
        assert!(matches!(
            StoreReader::open(&path),
            Err(StoreError::Missing(_))
        ));
        assert!(!path.exists());
        let other = dir.path().join("empty.db");
        Connection::open(&other).unwrap();
        assert!(matches!(
            StoreReader::open(&other),
            Err(StoreError::Missing(_))
        ));
    }

    #[test]
    fn a_locked_database_fails_the_batch_and_leaves_memory_as_it_was() {
        let (_dir, path) = temp_db("locked");
        let mut store = Store::open(&path, StoreOptions::default()).unwrap();
        store.conn.busy_timeout(Duration::from_millis(50)).unwrap();
        store.record(&[seen("a", "10.0.0.1", 1)]).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = store
            .record(&[seen("a", "10.0.0.2", 2), seen("b", "10.0.0.3", 3)])
            .unwrap_err();
        assert!(matches!(err, StoreError::Locked), "{err}");
        other.execute_batch("ROLLBACK").unwrap();
        assert!(!store.knows("b"));
        // The failed move is seen as a move again once the lock is gone.
        let outcomes = store.record(&[seen("a", "10.0.0.2", 4)]).unwrap();
        assert!(
            matches!(&outcomes[0], Recorded::Changed(c) if c.old_ip == Some("10.0.0.1".parse().unwrap()))
        );
    }
}
