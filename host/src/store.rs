//! The SQLite store. Every sync is a run; its rows are keyed by the run's id, and queries
//! read the newest complete run, so a failed or interrupted sync never hides the last good one.

use crate::engine::{Entitlement, Grant, Resource};
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;

/// Version 2 added the checkpoint tables, version 3 the context of each run; older
/// databases are upgraded in place.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    error TEXT,
    api_calls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sync_runs_latest ON sync_runs (account, status, id);
CREATE TABLE IF NOT EXISTS resource_types (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (sync_id, id)
);
CREATE TABLE IF NOT EXISTS resources (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    parent_type TEXT,
    parent_id TEXT,
    attributes TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, id)
);
CREATE INDEX IF NOT EXISTS resources_by_name ON resources (sync_id, resource_type, name);
CREATE TABLE IF NOT EXISTS entitlements (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    display_name TEXT NOT NULL,
    grantable_to TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, resource_id, slug)
);
CREATE TABLE IF NOT EXISTS grants (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    entitlement TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    PRIMARY KEY (sync_id, resource_type, resource_id, entitlement, principal_type, principal_id)
);
CREATE INDEX IF NOT EXISTS grants_by_principal ON grants (sync_id, principal_type, principal_id);
-- Checkpoints of unfinished runs, per plugin: how far its listing got (per parent
-- resource; '' for top-level types), which resources' access it stored, and whether it
-- finished. Cleared when a run ends.
CREATE TABLE IF NOT EXISTS list_progress (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    next_token TEXT,
    done INTEGER NOT NULL,
    PRIMARY KEY (sync_id, plugin, parent_id)
);
CREATE TABLE IF NOT EXISTS access_done (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    PRIMARY KEY (sync_id, plugin, resource_type, resource_id)
);
CREATE TABLE IF NOT EXISTS plugins_done (
    sync_id INTEGER NOT NULL REFERENCES sync_runs (id),
    plugin TEXT NOT NULL,
    PRIMARY KEY (sync_id, plugin)
);
-- What a run synced against: its endpoints, and the identity STS GetCallerIdentity named
-- (NULL when it could not be read). A run is resumed only against the same context.
CREATE TABLE IF NOT EXISTS run_context (
    sync_id INTEGER PRIMARY KEY REFERENCES sync_runs (id),
    endpoints TEXT NOT NULL,
    caller TEXT
);
";

/// What a run syncs against; an interrupted run is resumed only in the same context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// The endpoint of each product, `ram=https://...`.
    pub endpoints: String,
    /// The account and ARN of the caller, `1234567890123456 acs:ram::...:user/x`; None
    /// when it could not be read.
    pub caller: Option<String>,
}

/// How far the listing of one type (under one parent) got in an unfinished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListProgress {
    NotStarted,
    /// Continue with this page token.
    At(String),
    Done,
}

pub struct Store {
    conn: Connection,
}

/// Resources per type, and grants per (resource type, entitlement).
pub type Counts = (Vec<(String, i64)>, Vec<(String, String, i64)>);

/// One sync run.
#[derive(Debug, Clone, Serialize)]
pub struct SyncRun {
    pub id: i64,
    pub account: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub api_calls: i64,
}

/// A stored resource, as the `resources` command prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceRow {
    pub resource_type: String,
    pub id: String,
    pub name: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A stored grant, as the `grants` command prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrantRow {
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: String,
    pub entitlement: String,
    pub principal_type: String,
    pub principal_id: String,
    pub principal_name: String,
    /// For role assumption: whether the principal belongs to another account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_account: Option<bool>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn attributes_json(pairs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Stored attributes are strings; flags read back as JSON booleans.
fn parse_attributes(text: &str) -> serde_json::Map<String, serde_json::Value> {
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
        let store = Store { conn };
        store
            .migrate()
            .with_context(|| format!("cannot use database {}", path.display()))?;
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
        // Versions 1 and 2 lack only checkpoint and context tables, which queries do not read.
        if !(1..=SCHEMA_VERSION).contains(&version) {
            bail!(
                "{} is not a ramsync database (schema version {version}, expected {SCHEMA_VERSION})",
                path.display()
            );
        }
        Ok(Store { conn })
    }

    fn migrate(&self) -> Result<()> {
        self.conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!("it was written by a newer ramsync (schema version {version})");
        }
        if !(0..=SCHEMA_VERSION).contains(&version) {
            bail!("unknown schema version {version}");
        }
        if version == 0 {
            let tables: i64 =
                self.conn
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                bail!("it is not a ramsync database");
            }
        }
        // Only now is the file known to be a ramsync database (or a new, empty one), so
        // switching its journal mode changes nothing that is not ours.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL keeps every commit atomic and the database consistent through a
        // crash; a power cut may only lose the last pages, which a resumed sync fetches again.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.execute_batch(SCHEMA)?;
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    }

    pub fn begin_sync(&self, account: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO sync_runs (account, started_at, status) VALUES (?1, ?2, 'running')",
            params![account, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a run as complete or failed, adding the API calls of this process's part of it,
    /// and drops its checkpoints.
    pub fn finish_sync(&mut self, sync_id: i64, error: Option<&str>, api_calls: u64) -> Result<()> {
        let status = if error.is_some() {
            "failed"
        } else {
            "complete"
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE sync_runs SET finished_at = ?2, status = ?3, error = ?4, api_calls = api_calls + ?5 WHERE id = ?1",
            params![sync_id, now(), status, error, api_calls as i64],
        )?;
        tx.execute(
            "DELETE FROM list_progress WHERE sync_id = ?1",
            params![sync_id],
        )?;
        tx.execute(
            "DELETE FROM access_done WHERE sync_id = ?1",
            params![sync_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records the API calls of a run that stops before it ends, so a resumed run counts all.
    pub fn add_api_calls(&self, sync_id: i64, api_calls: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_runs SET api_calls = api_calls + ?2 WHERE id = ?1",
            params![sync_id, api_calls as i64],
        )?;
        Ok(())
    }

    /// The newest unfinished run of an account: interrupted, since the caller holds the
    /// database's sync lock and so no other process is writing it.
    pub fn unfinished_run(&self, account: &str) -> Result<Option<SyncRun>> {
        self.newest_run(account, "running")
    }

    fn newest_run(&self, account: &str, status: &str) -> Result<Option<SyncRun>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs
                 WHERE account = ?1 AND status = ?2 ORDER BY id DESC LIMIT 1",
                params![account, status],
                sync_run,
            )
            .optional()?)
    }

    /// Records what a run syncs against.
    pub fn put_run_context(&self, sync_id: i64, context: &RunContext) -> Result<()> {
        self.conn.execute(
            "INSERT INTO run_context (sync_id, endpoints, caller) VALUES (?1, ?2, ?3)
             ON CONFLICT (sync_id) DO UPDATE SET endpoints = excluded.endpoints, caller = excluded.caller",
            params![sync_id, context.endpoints, context.caller],
        )?;
        Ok(())
    }

    /// What a run synced against; None for runs of an older ramsync, which recorded nothing.
    pub fn run_context(&self, sync_id: i64) -> Result<Option<RunContext>> {
        Ok(self
            .conn
            .query_row(
                "SELECT endpoints, caller FROM run_context WHERE sync_id = ?1",
                params![sync_id],
                |r| {
                    Ok(RunContext {
                        endpoints: r.get(0)?,
                        caller: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Marks an unfinished run failed, for example when a new run replaces it.
    pub fn abandon_run(&mut self, sync_id: i64, reason: &str) -> Result<()> {
        self.finish_sync(sync_id, Some(reason), 0)
    }

    /// Whether a plugin finished its part of this run.
    pub fn plugin_done(&self, sync_id: i64, plugin: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM plugins_done WHERE sync_id = ?1 AND plugin = ?2",
                params![sync_id, plugin],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn mark_plugin_done(&self, sync_id: i64, plugin: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO plugins_done (sync_id, plugin) VALUES (?1, ?2)",
            params![sync_id, plugin],
        )?;
        Ok(())
    }

    /// Adds an enriching plugin's failure to the error of the type it enriches.
    pub fn add_type_error(&self, sync_id: i64, resource_type: &str, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE resource_types SET error = COALESCE(error || char(10), '') || ?3 WHERE sync_id = ?1 AND id = ?2",
            params![sync_id, resource_type, error],
        )?;
        Ok(())
    }

    /// How far a plugin's listing under `parent_id` got.
    pub fn list_progress(
        &self,
        sync_id: i64,
        plugin: &str,
        parent_id: &str,
    ) -> Result<ListProgress> {
        let row: Option<(Option<String>, bool)> = self
            .conn
            .prepare_cached(
                "SELECT next_token, done FROM list_progress WHERE sync_id = ?1 AND plugin = ?2 AND parent_id = ?3",
            )?
            .query_row(params![sync_id, plugin, parent_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            None => ListProgress::NotStarted,
            Some((_, true)) => ListProgress::Done,
            Some((Some(token), false)) => ListProgress::At(token),
            Some((None, false)) => ListProgress::NotStarted,
        })
    }

    /// Stores one page of resources and where the listing continues, in one transaction,
    /// so that an interrupted run resumes exactly after the last stored page. An enriching
    /// plugin's resources only merge their attributes into existing ones.
    pub fn put_resource_page(
        &mut self,
        sync_id: i64,
        plugin: &str,
        enriches: bool,
        parent_id: &str,
        resources: &[Resource],
        next_token: Option<&str>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        if enriches {
            let mut stmt = tx.prepare_cached(
                "UPDATE resources SET attributes = json_patch(attributes, ?4)
                 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3",
            )?;
            for r in resources {
                stmt.execute(params![
                    sync_id,
                    r.ref_.resource_type,
                    r.ref_.id,
                    attributes_json(&r.attributes)
                ])?;
            }
        } else {
            insert_resources(&tx, sync_id, resources)?;
        }
        tx.prepare_cached(
            "INSERT INTO list_progress (sync_id, plugin, parent_id, next_token, done) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (sync_id, plugin, parent_id) DO UPDATE SET next_token = excluded.next_token, done = excluded.done",
        )?
        .execute(params![
            sync_id,
            plugin,
            parent_id,
            next_token,
            next_token.is_none()
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// The resources of a type, as plugins receive them, by id; with `pending_for`, only
    /// those whose entitlements and grants that plugin has not stored yet.
    pub fn plugin_resources(
        &self,
        sync_id: i64,
        resource_type: &str,
        pending_for: Option<&str>,
    ) -> Result<Vec<Resource>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.resource_type, r.id, r.name, r.display_name, r.parent_type, r.parent_id, r.attributes
             FROM resources r
             WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND (?3 IS NULL OR NOT EXISTS (
               SELECT 1 FROM access_done a WHERE a.sync_id = r.sync_id AND a.plugin = ?3
                 AND a.resource_type = r.resource_type AND a.resource_id = r.id))
             ORDER BY r.id",
        )?;
        let rows = stmt
            .query_map(params![sync_id, resource_type, pending_for], |r| {
                let parent = match (
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ) {
                    (Some(resource_type), Some(id)) => {
                        Some(crate::engine::ResourceRef { resource_type, id })
                    }
                    _ => None,
                };
                Ok(Resource {
                    ref_: crate::engine::ResourceRef {
                        resource_type: r.get(0)?,
                        id: r.get(1)?,
                    },
                    name: r.get(2)?,
                    display_name: r.get(3)?,
                    parent,
                    attributes: attribute_pairs(&r.get::<_, String>(6)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Resources and grants of one type in a run.
    pub fn type_counts(&self, sync_id: i64, resource_type: &str) -> Result<(usize, usize)> {
        let count = |sql: &str| -> Result<usize> {
            Ok(self
                .conn
                .query_row(sql, params![sync_id, resource_type], |r| r.get::<_, i64>(0))?
                as usize)
        };
        Ok((
            count("SELECT count(*) FROM resources WHERE sync_id = ?1 AND resource_type = ?2")?,
            count("SELECT count(*) FROM grants WHERE sync_id = ?1 AND resource_type = ?2")?,
        ))
    }

    pub fn put_resource_type(
        &self,
        sync_id: i64,
        id: &str,
        display_name: &str,
        plugin: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO resource_types (sync_id, id, display_name, plugin, error) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (sync_id, id) DO UPDATE SET error = excluded.error",
            params![sync_id, id, display_name, plugin, error],
        )?;
        Ok(())
    }

    /// Stores the entitlements and grants of one resource, the attributes learned while
    /// listing them, and that its access is done, in one transaction.
    pub fn put_access(
        &mut self,
        sync_id: i64,
        plugin: &str,
        resource: &crate::engine::ResourceRef,
        entitlements: &[Entitlement],
        grants: &[Grant],
        attributes: &[(String, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        if !attributes.is_empty() {
            tx.prepare_cached(
                "UPDATE resources SET attributes = json_patch(attributes, ?4)
                 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3",
            )?
            .execute(params![
                sync_id,
                resource.resource_type,
                resource.id,
                attributes_json(attributes)
            ])?;
        }
        tx.prepare_cached(
            "INSERT OR IGNORE INTO access_done (sync_id, plugin, resource_type, resource_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![sync_id, plugin, resource.resource_type, resource.id])?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO entitlements (sync_id, resource_type, resource_id, slug, display_name, grantable_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in entitlements {
                stmt.execute(params![
                    sync_id,
                    e.resource.resource_type,
                    e.resource.id,
                    e.slug,
                    e.display_name,
                    serde_json::to_string(&e.grantable_to)?,
                ])?;
            }
            // An empty principal id asks for a match by name among this sync's resources:
            // exactly, then case-insensitively (role ARNs are lowercase), then a login name
            // against a UserPrincipalName. Unmatched principals keep their name as the id.
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO grants (sync_id, resource_type, resource_id, entitlement, principal_type, principal_id, principal_name, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5,
                   COALESCE(NULLIF(?6, ''),
                     (SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?5 AND name = ?7),
                     (SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?5
                        AND (lower(name) = lower(?7) OR substr(name, 1, length(?7) + 1) = ?7 || '@')
                      ORDER BY name LIMIT 1),
                     ?7),
                   ?7, ?8)",
            )?;
            for g in grants {
                stmt.execute(params![
                    sync_id,
                    g.resource.resource_type,
                    g.resource.id,
                    g.entitlement,
                    g.principal.resource_type,
                    g.principal.id,
                    g.principal_name,
                    attributes_json(&g.attributes),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The newest complete sync of an account.
    pub fn latest_complete(&self, account: &str) -> Result<Option<SyncRun>> {
        self.newest_run(account, "complete")
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<SyncRun>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map([], sync_run)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The sync that queries read: the newest complete one, or a clear error.
    pub fn readable_sync(&self, account: &str) -> Result<SyncRun> {
        match self.latest_complete(account)? {
            Some(run) => Ok(run),
            None => bail!("the database has no complete sync yet; run `ramsync sync` first"),
        }
    }

    pub fn query_resources(
        &self,
        sync_id: i64,
        resource_type: Option<&str>,
    ) -> Result<Vec<ResourceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT resource_type, id, name, display_name, parent_type, parent_id, attributes FROM resources
             WHERE sync_id = ?1 AND (?2 IS NULL OR resource_type = ?2) ORDER BY resource_type, name, id",
        )?;
        let rows = stmt
            .query_map(params![sync_id, resource_type], resource_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn query_grants(&self, sync_id: i64) -> Result<Vec<GrantRow>> {
        self.grants_where("", params![sync_id])
    }

    /// Grants held by one principal (indexed by principal).
    pub fn grants_held_by(
        &self,
        sync_id: i64,
        principal_type: &str,
        principal_id: &str,
    ) -> Result<Vec<GrantRow>> {
        self.grants_where(
            "AND g.principal_type = ?2 AND g.principal_id = ?3",
            params![sync_id, principal_type, principal_id],
        )
    }

    /// Grants of one resource's entitlements (indexed by resource).
    pub fn grants_on(
        &self,
        sync_id: i64,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Vec<GrantRow>> {
        self.grants_where(
            "AND g.resource_type = ?2 AND g.resource_id = ?3",
            params![sync_id, resource_type, resource_id],
        )
    }

    fn grants_where(&self, clause: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<GrantRow>> {
        let sql = format!(
            "SELECT g.resource_type, g.resource_id, COALESCE(r.name, ''), g.entitlement, g.principal_type, g.principal_id,
                    COALESCE(p.name, g.principal_name), g.attributes
             FROM grants g
             LEFT JOIN resources r ON r.sync_id = g.sync_id AND r.resource_type = g.resource_type AND r.id = g.resource_id
             LEFT JOIN resources p ON p.sync_id = g.sync_id AND p.resource_type = g.principal_type AND p.id = g.principal_id
             WHERE g.sync_id = ?1 {clause}
             ORDER BY g.resource_type, 3, g.entitlement, 7, g.principal_id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params, |r| {
                let attributes = parse_attributes(&r.get::<_, String>(7)?);
                Ok(GrantRow {
                    cross_account: attributes.get("cross_account").and_then(|v| v.as_bool()),
                    resource_type: r.get(0)?,
                    resource_id: r.get(1)?,
                    resource_name: r.get(2)?,
                    entitlement: r.get(3)?,
                    principal_type: r.get(4)?,
                    principal_id: r.get(5)?,
                    principal_name: r.get(6)?,
                    attributes,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// A resource by name: exactly, then case-insensitively, then a login name against a
    /// UserPrincipalName (`alice` finds `alice@corp.onaliyun.com`).
    pub fn find_resource(
        &self,
        sync_id: i64,
        resource_type: &str,
        name: &str,
    ) -> Result<Option<ResourceRow>> {
        // Exact names, then login names (UserPrincipalNames starting with `name@`), are index
        // lookups; only the case-insensitive and by-id fallback scans the type's resources.
        let queries = [
            "SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?2 AND name = ?3 LIMIT 1",
            "SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?2
               AND name >= ?3 || '@' AND name < ?3 || 'A' ORDER BY name LIMIT 1",
            "SELECT id FROM resources WHERE sync_id = ?1 AND resource_type = ?2
               AND (lower(name) = lower(?3) OR id = ?3) ORDER BY name LIMIT 1",
        ];
        for sql in queries {
            let id: Option<String> = self
                .conn
                .prepare_cached(sql)?
                .query_row(params![sync_id, resource_type, name], |r| r.get(0))
                .optional()?;
            if let Some(id) = id {
                return self.resource(sync_id, resource_type, &id);
            }
        }
        Ok(None)
    }

    /// One resource by id.
    pub fn resource(
        &self,
        sync_id: i64,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<ResourceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT resource_type, id, name, display_name, parent_type, parent_id, attributes FROM resources
             WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3",
        )?;
        Ok(stmt
            .query_row(params![sync_id, resource_type, id], resource_row)
            .optional()?)
    }

    /// A sync run by id.
    pub fn run(&self, id: i64) -> Result<Option<SyncRun>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs WHERE id = ?1",
                params![id],
                sync_run,
            )
            .optional()?)
    }

    /// The newest complete syncs of an account, newest first.
    pub fn complete_runs(&self, account: &str, limit: usize) -> Result<Vec<SyncRun>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs
             WHERE account = ?1 AND status = 'complete' ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![account, limit as i64], sync_run)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Direct SQL access for read-only reports.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Resource counts per type, and grant counts per (resource type, entitlement).
    pub fn counts(&self, sync_id: i64) -> Result<Counts> {
        let mut stmt = self.conn.prepare(
            "SELECT t.id, (SELECT count(*) FROM resources r WHERE r.sync_id = t.sync_id AND r.resource_type = t.id)
             FROM resource_types t WHERE t.sync_id = ?1 ORDER BY t.rowid",
        )?;
        let types = stmt
            .query_map(params![sync_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT resource_type, entitlement, count(*) FROM grants WHERE sync_id = ?1
             GROUP BY resource_type, entitlement ORDER BY resource_type, entitlement",
        )?;
        let grants = stmt
            .query_map(params![sync_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((types, grants))
    }
}

fn insert_resources(
    tx: &rusqlite::Transaction<'_>,
    sync_id: i64,
    resources: &[Resource],
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO resources (sync_id, resource_type, id, name, display_name, parent_type, parent_id, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for r in resources {
        stmt.execute(params![
            sync_id,
            r.ref_.resource_type,
            r.ref_.id,
            r.name,
            r.display_name,
            r.parent.as_ref().map(|p| &p.resource_type),
            r.parent.as_ref().map(|p| &p.id),
            attributes_json(&r.attributes),
        ])?;
    }
    Ok(())
}

/// Stored attributes back as the pairs a plugin gave (all values are strings).
fn attribute_pairs(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn resource_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResourceRow> {
    let attributes = parse_attributes(&r.get::<_, String>(6)?);
    let status = attributes
        .get("status")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(ResourceRow {
        resource_type: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        display_name: r.get(3)?,
        status,
        parent_type: r.get(4)?,
        parent_id: r.get(5)?,
        attributes,
    })
}

fn sync_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        id: r.get(0)?,
        account: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        status: r.get(4)?,
        error: r.get(5)?,
        api_calls: r.get(6)?,
    })
}
