//! Reading what the newest complete sync stored, for the query commands.

use crate::{Counts, Store, parse_attributes};
use anyhow::{Result, bail};
use ramsync_model::{GrantRow, ResourceRow, SyncRun};
use rusqlite::{Connection, OptionalExtension, params};

impl Store {
    /// The accounts other than `except` with a complete sync: their run name, newest
    /// complete sync, account id
    /// (from the newest complete sync's `account` resource) and a label for paths: the
    /// directory display name, else the account's alias, else the run name.
    pub fn other_accounts(&self, except: &str) -> Result<Vec<OtherAccount>> {
        let directory = self.directory_accounts()?;
        let mut stmt = self.db.get()?.prepare(
            "SELECT account, max(id) FROM sync_runs WHERE status = 'complete' AND account != ?1 GROUP BY account ORDER BY account",
        )?;
        let runs: Vec<(String, i64)> = stmt
            .query_map(params![except], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for (account, sync) in runs {
            let resource = self
                .query_resources(sync, Some("account"))?
                .into_iter()
                .next();
            let label = match directory.get(&account) {
                Some(d) => d.display_name.clone(),
                None => resource
                    .as_ref()
                    .map(|r| r.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| account.clone()),
            };
            out.push(OtherAccount {
                account,
                sync_id: sync,
                account_id: resource.map(|r| r.id),
                label,
            });
        }
        Ok(out)
    }

    /// The accounts synced from a Resource Directory, by run account name.
    pub fn directory_accounts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, ramsync_model::DirectoryAccount>> {
        // A database of schema version 3 or older, opened read-only, has no such table.
        let exists: i64 = self.db.get()?.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'directory_accounts'",
            [],
            |r| r.get(0),
        )?;
        if exists == 0 {
            return Ok(Default::default());
        }
        let mut stmt = self.db.get()?.prepare(
            "SELECT account, directory_id, account_id, display_name, folder_path FROM directory_accounts",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ramsync_model::DirectoryAccount {
                    account: r.get(0)?,
                    directory_id: r.get(1)?,
                    account_id: r.get(2)?,
                    display_name: r.get(3)?,
                    folder_path: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().map(|a| (a.account.clone(), a)).collect())
    }

    /// The newest complete sync of an account.
    pub fn latest_complete(&self, account: &str) -> Result<Option<SyncRun>> {
        self.newest_run(account, "complete")
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<SyncRun>> {
        let mut stmt = self.db.get()?.prepare(
            "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map([], sync_run)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The sync that queries read: the newest complete one, or a clear error.
    pub fn readable_sync(&self, account: &str) -> Result<SyncRun> {
        if let Some(run) = self.latest_complete(account)? {
            return Ok(run);
        }
        let mut stmt = self.db.get()?.prepare(
            "SELECT DISTINCT account FROM sync_runs WHERE status = 'complete' ORDER BY account",
        )?;
        let others: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if others.is_empty() {
            bail!("the database has no complete sync yet; run `ramsync sync` first");
        }
        bail!(
            "no complete sync of account {account:?}; the database has complete syncs of {}: pass --account NAME",
            others.join(", ")
        )
    }

    /// The resources of a sync, of one type or of all, ordered by type and name.
    pub fn query_resources(
        &self,
        sync_id: i64,
        resource_type: Option<&str>,
    ) -> Result<Vec<ResourceRow>> {
        let mut stmt = self.db.get()?.prepare_cached(
            "SELECT resource_type, id, name, display_name, parent_type, parent_id, attributes FROM resources
             WHERE sync_id = ?1 AND (?2 IS NULL OR resource_type = ?2) ORDER BY resource_type, name, id",
        )?;
        let rows = stmt
            .query_map(params![sync_id, resource_type], resource_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every entitlement of a sync, by resource and slug.
    pub fn query_entitlements(&self, sync_id: i64) -> Result<Vec<ramsync_model::EntitlementRow>> {
        let mut stmt = self.db.get()?.prepare(
            "SELECT resource_type, resource_id, slug, display_name, grantable_to FROM entitlements
             WHERE sync_id = ?1 ORDER BY resource_type, resource_id, slug",
        )?;
        let rows = stmt
            .query_map(params![sync_id], |r| {
                let grantable: String = r.get(4)?;
                Ok(ramsync_model::EntitlementRow {
                    resource_type: r.get(0)?,
                    resource_id: r.get(1)?,
                    slug: r.get(2)?,
                    display_name: r.get(3)?,
                    grantable_to: serde_json::from_str(&grantable).unwrap_or_else(|_| {
                        grantable
                            .split(',')
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                            .collect()
                    }),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every grant of a sync, with the names of its resource and principal.
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

    /// The principals granted one entitlement of one resource, as (type, id, name), without
    /// the grants' attributes: the cheap form of [`Store::grants_on`] for graph walks.
    pub fn principals_granted(
        &self,
        sync_id: i64,
        resource_type: &str,
        resource_id: &str,
        entitlement: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.db.get()?.prepare_cached(
            "SELECT g.principal_type, g.principal_id, COALESCE(p.name, g.principal_name)
             FROM grants g
             LEFT JOIN resources p ON p.sync_id = g.sync_id AND p.resource_type = g.principal_type AND p.id = g.principal_id
             WHERE g.sync_id = ?1 AND g.resource_type = ?2 AND g.resource_id = ?3 AND g.entitlement = ?4",
        )?;
        let rows = stmt
            .query_map(
                params![sync_id, resource_type, resource_id, entitlement],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every grant of one entitlement on one resource type, as (resource id, principal type,
    /// principal id, principal name), without attributes: for whole-account graph questions.
    pub fn entitlement_grants(
        &self,
        sync_id: i64,
        resource_type: &str,
        entitlement: &str,
    ) -> Result<Vec<(String, String, String, String)>> {
        let mut stmt = self.db.get()?.prepare_cached(
            "SELECT g.resource_id, g.principal_type, g.principal_id, COALESCE(p.name, g.principal_name)
             FROM grants g
             LEFT JOIN resources p ON p.sync_id = g.sync_id AND p.resource_type = g.principal_type AND p.id = g.principal_id
             WHERE g.sync_id = ?1 AND g.resource_type = ?2 AND g.entitlement = ?3",
        )?;
        let rows = stmt
            .query_map(params![sync_id, resource_type, entitlement], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
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
        let mut stmt = self.db.get()?.prepare_cached(&sql)?;
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
                .db
                .get()?
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
        let mut stmt = self.db.get()?.prepare_cached(
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
            .db
            .get()?
            .query_row(
                "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs WHERE id = ?1",
                params![id],
                sync_run,
            )
            .optional()?)
    }

    /// The newest complete syncs of an account, newest first.
    pub fn complete_runs(&self, account: &str, limit: usize) -> Result<Vec<SyncRun>> {
        let mut stmt = self.db.get()?.prepare(
            "SELECT id, account, started_at, finished_at, status, error, api_calls FROM sync_runs
             WHERE account = ?1 AND status = 'complete' ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![account, limit as i64], sync_run)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Direct SQL access for read-only reports.
    /// It sees what is written, not pages a sync still holds; a query's store holds none.
    pub fn connection(&self) -> &Connection {
        self.db.as_written()
    }

    /// Of a type's resources in a sync: how many have `attribute` set to `value` (any value
    /// when `None`), and the least such value. Counted in SQL, so a summary of 100,000 users
    /// does not read them all into memory.
    pub fn attribute_count(
        &self,
        sync_id: i64,
        resource_type: &str,
        attribute: &str,
        value: Option<&str>,
    ) -> Result<(usize, Option<String>)> {
        let path = format!("$.\"{}\"", attribute.replace('"', ""));
        let (count, least) = self.db.get()?.query_row(
            "SELECT count(*), min(CAST(v AS TEXT)) FROM (
               SELECT json_extract(attributes, ?3) AS v FROM resources
               WHERE sync_id = ?1 AND resource_type = ?2 AND json_valid(attributes))
             WHERE v IS NOT NULL AND (?4 IS NULL OR v = ?4)",
            params![sync_id, resource_type, path, value],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)),
        )?;
        Ok((count as usize, least))
    }

    /// The resource types of a sync as (id, display name), in the order they were listed.
    pub fn resource_types(&self, sync_id: i64) -> Result<Vec<(String, String)>> {
        let mut stmt = self.db.get()?.prepare(
            "SELECT id, display_name FROM resource_types WHERE sync_id = ?1 ORDER BY rowid",
        )?;
        let types = stmt
            .query_map(params![sync_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(types)
    }

    /// Resource counts per type, and grant counts per (resource type, entitlement).
    pub fn counts(&self, sync_id: i64) -> Result<Counts> {
        let mut stmt = self.db.get()?.prepare(
            "SELECT t.id, (SELECT count(*) FROM resources r WHERE r.sync_id = t.sync_id AND r.resource_type = t.id)
             FROM resource_types t WHERE t.sync_id = ?1 ORDER BY t.rowid",
        )?;
        let types = stmt
            .query_map(params![sync_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = self.db.get()?.prepare(
            "SELECT resource_type, entitlement, count(*) FROM grants WHERE sync_id = ?1
             GROUP BY resource_type, entitlement ORDER BY resource_type, entitlement",
        )?;
        let grants = stmt
            .query_map(params![sync_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((types, grants))
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

pub(crate) fn sync_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncRun> {
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

/// Another account of the database, as [`Store::other_accounts`] lists it.
#[derive(Debug, Clone)]
pub struct OtherAccount {
    /// The name its runs are recorded under.
    pub account: String,
    /// Its newest complete sync.
    pub sync_id: i64,
    /// Its account id, when its sync has the account.
    pub account_id: Option<String>,
    /// How paths name it.
    pub label: String,
}
