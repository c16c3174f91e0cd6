//! `resources`, `grants`, `runs`, `access`, `findings` and `diff`: reading a synced database.

use super::output::{print_json_lines, print_lines, print_rows};
use crate::accounts::SyncLock;
use crate::store::Store;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::ExitCode;

/// `ramsync resources`: the newest readable sync's resources, of one type or all.
pub(crate) fn resources(
    db: &Path,
    resource_type: Option<&str>,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let store = Store::open_existing(db)?;
    let run = store.readable_sync(account)?;
    let rows = store.query_resources(run.id, resource_type)?;
    if let Some(t) = resource_type
        && rows.is_empty()
    {
        let (types, _) = store.counts(run.id)?;
        if !types.iter().any(|(id, _)| id == t) {
            let known: Vec<&str> = types.iter().map(|(id, _)| id.as_str()).collect();
            bail!(
                "unknown resource type {t:?}; this database has {}",
                known.join(", ")
            );
        }
    }
    print_rows(
        json,
        &rows,
        &["TYPE", "ID", "NAME", "DISPLAY NAME", "STATUS"],
        |r| {
            vec![
                r.resource_type.clone(),
                r.id.clone(),
                r.name.clone(),
                r.display_name.clone(),
                r.status.clone().unwrap_or_default(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ramsync grants`: every grant of the newest readable sync.
pub(crate) fn grants(db: &Path, json: bool, account: &str) -> Result<ExitCode> {
    let store = Store::open_existing(db)?;
    let run = store.readable_sync(account)?;
    let rows = store.query_grants(run.id)?;
    print_rows(
        json,
        &rows,
        &["RESOURCE", "ENTITLEMENT", "PRINCIPAL", "PRINCIPAL ID"],
        |g| {
            vec![
                format!("{}:{}", g.resource_type, g.resource_name),
                g.entitlement.clone(),
                format!("{}:{}", g.principal_type, g.principal_name),
                g.principal_id.clone(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ramsync runs`: every sync run, newest first.
pub(crate) fn runs(db: &Path, json: bool) -> Result<ExitCode> {
    let store = Store::open_existing(db)?;
    let mut runs = store.runs()?;
    // A run still marked running while no process holds the sync lock was interrupted.
    if !SyncLock::is_held(db) {
        for r in runs.iter_mut().filter(|r| r.status == "running") {
            r.status = "interrupted".into();
        }
    }
    print_rows(
        json,
        &runs,
        &["ID", "ACCOUNT", "STATUS", "STARTED", "API CALLS", "ERROR"],
        |r| {
            vec![
                r.id.to_string(),
                r.account.clone(),
                r.status.clone(),
                r.started_at.clone(),
                r.api_calls.to_string(),
                r.error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .unwrap_or_default()
                    .to_string(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ramsync access`: what a principal can reach, or who reaches a resource, with the path.
pub(crate) fn access(
    db: &Path,
    principal: Option<&str>,
    resource: Option<&str>,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let store = Store::open_existing(db)?;
    let access = crate::access::Access::new(&store, account)?;
    let paths = match (principal, resource) {
        (Some(p), _) => access.of_principal(p)?,
        (None, Some(r)) => access.of_resource(r)?,
        (None, None) => bail!("give --principal NAME or --resource TYPE:NAME"),
    };
    if json {
        print_json_lines(&paths)?;
    } else if paths.is_empty() {
        println!("no access found");
    } else {
        print_lines(paths.iter().map(|p| p.line()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ramsync findings`: the risky facts of the newest readable sync, most severe first.
pub(crate) fn findings(db: &Path, json: bool, account: &str) -> Result<ExitCode> {
    let store = Store::open_existing(db)?;
    let findings = crate::findings::findings(&store, account)?;
    print_rows(
        json,
        &findings,
        &["SEVERITY", "CODE", "RESOURCE", "EVIDENCE"],
        |f| {
            vec![
                f.severity.to_string(),
                f.code.to_string(),
                format!("{}:{}", f.resource_type, f.resource_name),
                f.evidence.clone(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ramsync diff`: what changed between two runs. Exit 1 means "changed", so errors exit 2.
pub(crate) fn diff(
    db: &Path,
    from_sync: Option<i64>,
    to_sync: Option<i64>,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let result = (|| -> Result<_> {
        let store = Store::open_existing(db)?;
        let (from, to) = crate::diff::pick(&store, account, from_sync, to_sync)?;
        Ok((from.id, to.id, crate::diff::diff(&store, from.id, to.id)?))
    })();
    let (from, to, changes) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    if json {
        print_json_lines(&changes)?;
    } else if changes.is_empty() {
        println!("no changes between sync runs {from} and {to}");
    } else {
        println!("changes from sync run {from} to {to}:");
        print_lines(changes.iter().map(|c| c.line()));
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
