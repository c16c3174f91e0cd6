//! What changed between two complete syncs: resources and grants added and removed.

use anyhow::{Result, bail};
use ramsync_store::{Store, SyncRun};
use rusqlite::params;
use serde::Serialize;

/// One resource or grant added or removed between two syncs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// `added` or `removed`.
    pub change: &'static str,
    /// `resource` or `grant`.
    pub kind: &'static str,
    /// The resource's type, or for a grant the type of the resource offering it.
    pub resource_type: String,
    /// That resource's id.
    pub resource_id: String,
    /// That resource's name.
    pub resource_name: String,
    /// For a grant: the entitlement's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    /// For a grant: the principal's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    /// For a grant: the principal's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// For a grant: the principal's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<String>,
}

impl Change {
    /// The change as one line, `+ type name` or `- type name entitlement principal`.
    pub fn line(&self) -> String {
        let sign = if self.change == "added" { "+" } else { "-" };
        match self.kind {
            "resource" => format!(
                "{sign} {}:{} ({})",
                self.resource_type, self.resource_name, self.resource_id
            ),
            _ => format!(
                "{sign} {}:{} {} {}:{}",
                self.resource_type,
                self.resource_name,
                self.entitlement.as_deref().unwrap_or_default(),
                self.principal_type.as_deref().unwrap_or_default(),
                self.principal_name.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// The two syncs to compare: given ids, or the account's last two complete syncs.
pub fn pick(
    store: &Store,
    account: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(SyncRun, SyncRun)> {
    let get = |id: i64| -> Result<SyncRun> {
        match store.run(id)? {
            Some(run) if run.status == "complete" => Ok(run),
            Some(run) => bail!(
                "sync run {id} is {}, not complete; only complete syncs can be compared",
                run.status
            ),
            None => bail!("there is no sync run {id}; `ramsync runs --db ...` lists them"),
        }
    };
    match (from, to) {
        (Some(f), Some(t)) => Ok((get(f)?, get(t)?)),
        (Some(f), None) => {
            let latest = store.complete_runs(account, 1)?;
            let Some(t) = latest.into_iter().next() else {
                bail!("the database has no complete sync of account {account}")
            };
            Ok((get(f)?, t))
        }
        _ => {
            let mut runs = store.complete_runs(account, 2)?;
            if runs.len() < 2 {
                bail!(
                    "a diff needs two complete syncs of account {account}; this database has {}",
                    runs.len()
                );
            }
            let to = runs.remove(0);
            Ok((runs.remove(0), to))
        }
    }
}

/// Resources and grants in `to` but not in `from` (added) and the reverse (removed).
pub fn diff(store: &Store, from: i64, to: i64) -> Result<Vec<Change>> {
    let conn = store.connection();
    let mut out = Vec::new();
    for (change, a, b) in [("added", to, from), ("removed", from, to)] {
        let mut stmt = conn.prepare(
            "SELECT resource_type, id, name FROM resources r WHERE sync_id = ?1
             AND NOT EXISTS (SELECT 1 FROM resources o WHERE o.sync_id = ?2 AND o.resource_type = r.resource_type AND o.id = r.id)",
        )?;
        let rows = stmt.query_map(params![a, b], |r| {
            Ok(Change {
                change,
                kind: "resource",
                resource_type: r.get(0)?,
                resource_id: r.get(1)?,
                resource_name: r.get(2)?,
                entitlement: None,
                principal_type: None,
                principal_id: None,
                principal_name: None,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
        let mut stmt = conn.prepare(
            "SELECT g.resource_type, g.resource_id, COALESCE(r.name, ''), g.entitlement, g.principal_type, g.principal_id,
                    COALESCE(p.name, g.principal_name)
             FROM grants g
             LEFT JOIN resources r ON r.sync_id = g.sync_id AND r.resource_type = g.resource_type AND r.id = g.resource_id
             LEFT JOIN resources p ON p.sync_id = g.sync_id AND p.resource_type = g.principal_type AND p.id = g.principal_id
             WHERE g.sync_id = ?1 AND NOT EXISTS (
                SELECT 1 FROM grants o WHERE o.sync_id = ?2 AND o.resource_type = g.resource_type AND o.resource_id = g.resource_id
                  AND o.entitlement = g.entitlement AND o.principal_type = g.principal_type AND o.principal_id = g.principal_id)",
        )?;
        let rows = stmt.query_map(params![a, b], |r| {
            Ok(Change {
                change,
                kind: "grant",
                resource_type: r.get(0)?,
                resource_id: r.get(1)?,
                resource_name: r.get(2)?,
                entitlement: Some(r.get(3)?),
                principal_type: Some(r.get(4)?),
                principal_id: Some(r.get(5)?),
                principal_name: Some(r.get(6)?),
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    out.sort_by(|a, b| {
        (a.kind, &a.resource_type, &a.resource_name, a.change).cmp(&(
            b.kind,
            &b.resource_type,
            &b.resource_name,
            b.change,
        ))
    });
    Ok(out)
}
