//! The SQLite store. Every sync is a run; its rows are keyed by the run's id, and queries
//! read the newest complete run, so a failed or interrupted sync never hides the last good one.
//!
//! It owns the database file, its schema and migrations, the checkpoints of unfinished
//! runs, and the reads the queries make. It may not call plugins, the network or the
//! scheduler; it depends on the model alone.

#![deny(missing_docs)]

mod grouped;
mod reads;
mod schema;
mod writes;

use anyhow::{Context, Result, bail};
pub use ramsync_model::{GrantRow, ResourceRow, RunContext, SyncRun};
pub use reads::OtherAccount;
use rusqlite::Connection;
use schema::{SCHEMA, SCHEMA_VERSION};
use std::path::Path;

/// How far the listing of one type (under one parent) got in an unfinished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListProgress {
    /// Nothing of it is stored yet.
    NotStarted,
    /// Continue with this page token.
    At(String),
    /// Every page is stored.
    Done,
}

/// An open ramsync database.
pub struct Store {
    db: grouped::Grouped,
}

/// A sync's pages are written in groups: each page (with its checkpoint) in a savepoint of
/// its own, the group in one transaction, once it holds this many pages or its oldest is
/// [`GROUP_AGE`] old, and before anything else reads or writes the store. A transaction per
/// page rewrote the same index and checkpoint pages into the WAL for every API call (about
/// twelve 4 KiB writes and seven locks a call). An interruption loses at most the pages not
/// yet written, which a resumed run fetches again; the write lock is held only while a group
/// is written, never while the sync waits for the network.
pub const GROUP_PAGES: usize = 256;
/// See [`GROUP_PAGES`].
pub const GROUP_AGE: std::time::Duration = std::time::Duration::from_millis(50);

/// Resources per type, and grants per (resource type, entitlement).
pub type Counts = (Vec<(String, i64)>, Vec<(String, String, i64)>);

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn attributes_json(pairs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Stored attributes are strings; flags read back as JSON booleans.
pub(crate) fn parse_attributes(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut map = match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => Default::default(),
    };
    for value in map.values_mut() {
        match value.as_str() {
            Some("true") => *value = serde_json::Value::Bool(true),
            Some("false") => *value = serde_json::Value::Bool(false),
            _ => {}
        }
    }
    map
}

impl Store {
    /// Opens the database for a sync, creating it if needed.
    pub fn open_or_create(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let store = Store::new(conn);
        store
            .migrate()
            .with_context(|| format!("cannot use database {}", path.display()))?;
        Ok(store)
    }

    /// Opens an existing database for a command that asks many questions of a large store
    /// (who-can, findings): the file is mapped rather than each page copied through read(2),
    /// and more pages are cached. Not for a sync's summary, whose memory figure would then
    /// count the mapped file.
    pub fn open_for_queries(path: &Path) -> Result<Self> {
        let store = Self::open_existing(path)?;
        let conn = store.db.get()?;
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        conn.pragma_update(None, "cache_size", -65536)?;
        Ok(store)
    }

    /// Opens an existing database for queries.
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!(
                "no database at {}; run `ramsync sync --db {}` (or `ramsync demo --db {}`) first",
                path.display(),
                path.display(),
                path.display()
            );
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .with_context(|| format!("{} is not a ramsync database", path.display()))?;
        // Older versions lack only checkpoint, context and directory tables; queries do not
        // read the first two and take a missing directory table as no directory.
        if !(1..=SCHEMA_VERSION).contains(&version) {
            bail!(
                "{} is not a ramsync database (schema version {version}, expected {SCHEMA_VERSION})",
                path.display()
            );
        }
        Ok(Store::new(conn))
    }

    fn new(conn: Connection) -> Self {
        Store {
            db: grouped::Grouped::new(conn),
        }
    }

    /// Writes the pages held back if the oldest has waited [`GROUP_AGE`]: a sync calls this
    /// now and then, so that a pause in its pages never holds the earlier ones back.
    pub fn commit_group_if_due(&self) -> Result<()> {
        self.db.commit_if_due()
    }

    fn migrate(&self) -> Result<()> {
        let conn = self.db.get()?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!("it was written by a newer ramsync (schema version {version})");
        }
        if !(0..=SCHEMA_VERSION).contains(&version) {
            bail!("unknown schema version {version}");
        }
        if version == 0 {
            let tables: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                bail!("it is not a ramsync database");
            }
        }
        // Only now is the file known to be a ramsync database (or a new, empty one), so
        // switching its journal mode changes nothing that is not ours.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL keeps every commit atomic and the database consistent through a
        // crash; a power cut may only lose the last pages, which a resumed sync fetches again.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    }
}
