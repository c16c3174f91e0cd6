//! Writing a sync run: its bookkeeping, its checkpoints, and the pages and access its
//! plugins return, each page with its checkpoint, written in groups (see [`crate::GROUP_PAGES`]).

use crate::reads::sync_run;
use crate::{ListProgress, Store, attributes_json, now};
use anyhow::Result;
use ramsync_model::{Entitlement, Grant, Resource, ResourceRef, RunContext, SyncRun};
use rusqlite::{Connection, OptionalExtension, params};

impl Store {
    /// Records where accounts sit in a Resource Directory, as just listed; accounts of the
    /// same directory no longer listed are dropped.
    pub fn put_directory_accounts(
        &mut self,
        accounts: &[ramsync_model::DirectoryAccount],
    ) -> Result<()> {
        let db = self.db.get_mut()?;
        let now = now();
        let tx = db.transaction()?;
        let directories: std::collections::BTreeSet<&str> =
            accounts.iter().map(|a| a.directory_id.as_str()).collect();
        for directory in directories {
            let listed: Vec<&str> = accounts
                .iter()
                .filter(|a| a.directory_id == directory)
                .map(|a| a.account.as_str())
                .collect();
            let known: Vec<String> = tx
                .prepare("SELECT account FROM directory_accounts WHERE directory_id = ?1")?
                .query_map(params![directory], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for gone in known.iter().filter(|k| !listed.contains(&k.as_str())) {
                tx.execute(
                    "DELETE FROM directory_accounts WHERE account = ?1",
                    params![gone],
                )?;
            }
        }
        for a in accounts {
            tx.execute(
                "INSERT INTO directory_accounts (account, directory_id, account_id, display_name, folder_path, listed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (account) DO UPDATE SET directory_id = ?2, account_id = ?3,
                   display_name = ?4, folder_path = ?5, listed_at = ?6",
                params![a.account, a.directory_id, a.account_id, a.display_name, a.folder_path, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds attributes to every resource of a type in a run (the account's placement in
    /// its directory); existing keys are replaced.
    pub fn add_attributes(
        &self,
        sync_id: i64,
        resource_type: &str,
        pairs: &[(String, String)],
    ) -> Result<()> {
        let db = self.db.get()?;
        let mut stmt = db.prepare(
            "SELECT id, attributes FROM resources WHERE sync_id = ?1 AND resource_type = ?2",
        )?;
        let rows: Vec<(String, String)> = stmt
            .query_map(rusqlite::params![sync_id, resource_type], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, text) in rows {
            let mut map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap_or_default();
            for (k, v) in pairs {
                map.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            db.execute(
                "UPDATE resources SET attributes = ?1 WHERE sync_id = ?2 AND resource_type = ?3 AND id = ?4",
                rusqlite::params![serde_json::Value::Object(map).to_string(), sync_id, resource_type, id],
            )?;
        }
        Ok(())
    }

    /// Starts a run of `account`, marked running; returns its id.
    pub fn begin_sync(&self, account: &str) -> Result<i64> {
        let db = self.db.get()?;
        db.execute(
            "INSERT INTO sync_runs (account, started_at, status) VALUES (?1, ?2, 'running')",
            params![account, now()],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// Ends a run as complete or failed, adding the API calls of this process's part of it,
    /// and drops its checkpoints.
    pub fn finish_sync(&mut self, sync_id: i64, error: Option<&str>, api_calls: u64) -> Result<()> {
        let db = self.db.get_mut()?;
        let status = if error.is_some() {
            "failed"
        } else {
            "complete"
        };
        let tx = db.transaction()?;
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
        let db = self.db.get()?;
        db.execute(
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

    pub(crate) fn newest_run(&self, account: &str, status: &str) -> Result<Option<SyncRun>> {
        Ok(self
            .db
            .get()?
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
        let db = self.db.get()?;
        db.execute(
            "INSERT INTO run_context (sync_id, endpoints, caller) VALUES (?1, ?2, ?3)
             ON CONFLICT (sync_id) DO UPDATE SET endpoints = excluded.endpoints, caller = excluded.caller",
            params![sync_id, context.endpoints, context.caller],
        )?;
        Ok(())
    }

    /// What a run synced against; None for runs of an older ramsync, which recorded nothing.
    pub fn run_context(&self, sync_id: i64) -> Result<Option<RunContext>> {
        let db = self.db.get()?;
        Ok(db
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
        let db = self.db.get()?;
        Ok(db
            .query_row(
                "SELECT 1 FROM plugins_done WHERE sync_id = ?1 AND plugin = ?2",
                params![sync_id, plugin],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records that a plugin finished its part of this run, so a resume skips it.
    pub fn mark_plugin_done(&self, sync_id: i64, plugin: &str) -> Result<()> {
        let db = self.db.get()?;
        db.execute(
            "INSERT OR IGNORE INTO plugins_done (sync_id, plugin) VALUES (?1, ?2)",
            params![sync_id, plugin],
        )?;
        Ok(())
    }

    /// Adds an enriching plugin's failure to the error of the type it enriches.
    pub fn add_type_error(&self, sync_id: i64, resource_type: &str, error: &str) -> Result<()> {
        let db = self.db.get()?;
        db.execute(
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
        let db = self.db.get()?;
        let row: Option<(Option<String>, bool)> = db
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

    /// Stores one page of resources and where the listing continues, together (in the next
    /// group, see [`crate::GROUP_PAGES`], which holds the page itself rather than a copy), so that an interrupted run resumes exactly after
    /// the last stored page. An enriching plugin's resources only merge their attributes
    /// into existing ones.
    pub fn put_resource_page(
        &mut self,
        sync_id: i64,
        plugin: &str,
        enriches: bool,
        parent_id: &str,
        resources: Vec<Resource>,
        next_token: Option<&str>,
    ) -> Result<()> {
        self.db.hold(Page::Resources(ResourcePage {
            sync_id,
            plugin: plugin.to_string(),
            enriches,
            parent_id: parent_id.to_string(),
            resources,
            next_token: next_token.map(str::to_string),
        }))
    }

    /// Up to `limit` resources of a type whose id sorts after `after`, as plugins receive
    /// them, by id; with `pending_for`, only those whose entitlements and grants that plugin
    /// has not stored yet. Read in such pages, 100,000 users never sit in memory at once.
    pub fn plugin_resources(
        &self,
        sync_id: i64,
        resource_type: &str,
        pending_for: Option<&str>,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Resource>> {
        let db = self.db.get()?;
        let mut stmt = db.prepare_cached(
            "SELECT r.resource_type, r.id, r.name, r.display_name, r.parent_type, r.parent_id, r.attributes
             FROM resources r
             WHERE r.sync_id = ?1 AND r.resource_type = ?2 AND r.id > ?4 AND (?3 IS NULL OR NOT EXISTS (
               SELECT 1 FROM access_done a WHERE a.sync_id = r.sync_id AND a.plugin = ?3
                 AND a.resource_type = r.resource_type AND a.resource_id = r.id))
             ORDER BY r.id LIMIT ?5",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(
                params![sync_id, resource_type, pending_for, after, limit],
                |r| {
                    let parent = match (
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ) {
                        (Some(resource_type), Some(id)) => Some(ResourceRef { resource_type, id }),
                        _ => None,
                    };
                    Ok(Resource {
                        ref_: ResourceRef {
                            resource_type: r.get(0)?,
                            id: r.get(1)?,
                        },
                        name: r.get(2)?,
                        display_name: r.get(3)?,
                        parent,
                        attributes: attribute_pairs(&r.get::<_, String>(6)?),
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Resources and grants of one type in a run.
    pub fn type_counts(&self, sync_id: i64, resource_type: &str) -> Result<(usize, usize)> {
        let db = self.db.get()?;
        let count = |sql: &str| -> Result<usize> {
            Ok(
                db.query_row(sql, params![sync_id, resource_type], |r| r.get::<_, i64>(0))?
                    as usize,
            )
        };
        Ok((
            count("SELECT count(*) FROM resources WHERE sync_id = ?1 AND resource_type = ?2")?,
            count("SELECT count(*) FROM grants WHERE sync_id = ?1 AND resource_type = ?2")?,
        ))
    }

    /// Records a resource type of this run, the plugin that synced it and why it failed, if it did.
    pub fn put_resource_type(
        &self,
        sync_id: i64,
        id: &str,
        display_name: &str,
        plugin: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let db = self.db.get()?;
        db.execute(
            "INSERT INTO resource_types (sync_id, id, display_name, plugin, error) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (sync_id, id) DO UPDATE SET error = excluded.error",
            params![sync_id, id, display_name, plugin, error],
        )?;
        Ok(())
    }

    /// Stores the entitlements and grants of one resource, the attributes learned while
    /// listing them, and that its access is done, together (in the next group).
    pub fn put_access(
        &mut self,
        sync_id: i64,
        plugin: &str,
        resource: &ResourceRef,
        entitlements: Vec<Entitlement>,
        grants: Vec<Grant>,
        attributes: Vec<(String, String)>,
    ) -> Result<()> {
        self.db.hold(Page::Access(AccessPage {
            sync_id,
            plugin: plugin.to_string(),
            resource: resource.clone(),
            entitlements,
            grants,
            attributes,
        }))
    }
}

/// A page a sync stores, held until its group is written.
pub(crate) enum Page {
    Resources(ResourcePage),
    Access(AccessPage),
}

impl Page {
    pub(crate) fn write(&self, conn: &Connection) -> Result<()> {
        match self {
            Page::Resources(page) => page.write(conn),
            Page::Access(page) => page.write(conn),
        }
    }
}

/// A page of resources and where the listing continues.
pub(crate) struct ResourcePage {
    sync_id: i64,
    plugin: String,
    enriches: bool,
    parent_id: String,
    resources: Vec<Resource>,
    next_token: Option<String>,
}

/// A resource's entitlements, grants and attributes, and that its access is done.
pub(crate) struct AccessPage {
    sync_id: i64,
    plugin: String,
    resource: ResourceRef,
    entitlements: Vec<Entitlement>,
    grants: Vec<Grant>,
    attributes: Vec<(String, String)>,
}

impl ResourcePage {
    fn write(&self, tx: &Connection) -> Result<()> {
        let ResourcePage {
            sync_id,
            plugin,
            enriches,
            parent_id,
            resources,
            next_token,
        } = self;
        let sync_id = *sync_id;
        if *enriches {
            // By id; an empty id asks for the resource of that name, as a grant's principal does.
            let mut by_id = tx.prepare_cached(
                "UPDATE resources SET attributes = json_patch(attributes, ?4)
                 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3",
            )?;
            let mut by_name = tx.prepare_cached(
                "UPDATE resources SET attributes = json_patch(attributes, ?4)
                 WHERE sync_id = ?1 AND resource_type = ?2 AND name = ?3",
            )?;
            for r in resources {
                let (stmt, key) = match r.ref_.id.is_empty() {
                    false => (&mut by_id, &r.ref_.id),
                    true => (&mut by_name, &r.name),
                };
                stmt.execute(params![
                    sync_id,
                    r.ref_.resource_type,
                    key,
                    attributes_json(&r.attributes)
                ])?;
            }
        } else {
            insert_resources(tx, sync_id, resources)?;
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
        Ok(())
    }
}

impl AccessPage {
    fn write(&self, tx: &Connection) -> Result<()> {
        let AccessPage {
            sync_id,
            plugin,
            resource,
            entitlements,
            grants,
            attributes,
        } = self;
        let sync_id = *sync_id;
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
        Ok(())
    }
}

fn insert_resources(tx: &Connection, sync_id: i64, resources: &[Resource]) -> Result<()> {
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
pub(crate) fn attribute_pairs(text: &str) -> Vec<(String, String)> {
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
