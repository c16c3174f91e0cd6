//! `resources`, `grants`, `runs`, `access`, `findings` and `diff`: reading a synced database.

use super::output::{print_json_lines, print_lines, print_rows};
use crate::accounts::SyncLock;
use crate::store::Store;
use anyhow::{Result, bail};
use ramsync_queries::permissions::Permissions;
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
    // A principal of another account of the same Resource Directory is named by it.
    let names = ramsync_queries::directory::other_account_names(&store, run.id)?;
    #[derive(serde::Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        grant: &'a crate::store::GrantRow,
        principal_account_name: Option<&'a str>,
        principal_folder_path: Option<&'a str>,
    }
    let rows: Vec<Row> = rows
        .iter()
        .map(|grant| {
            let named = ramsync_queries::directory::principal_account_name(&names, grant);
            Row {
                grant,
                principal_account_name: named.map(|(name, _)| name),
                principal_folder_path: named.map(|(_, path)| path),
            }
        })
        .collect();
    print_rows(
        json,
        &rows,
        &["RESOURCE", "ENTITLEMENT", "PRINCIPAL", "PRINCIPAL ID"],
        |r| {
            let g = r.grant;
            let mut principal = format!("{}:{}", g.principal_type, g.principal_name);
            if let (Some(name), Some(path)) = (r.principal_account_name, r.principal_folder_path) {
                principal.push_str(&format!(" [{name} in {path}]"));
            }
            vec![
                format!("{}:{}", g.resource_type, g.resource_name),
                g.entitlement.clone(),
                principal,
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
    // Accounts found in a Resource Directory carry where they sit in it.
    let directory = store.directory_accounts()?;
    #[derive(serde::Serialize)]
    struct Run<'a> {
        #[serde(flatten)]
        run: &'a crate::store::SyncRun,
        directory_id: Option<&'a str>,
        account_display_name: Option<&'a str>,
        folder_path: Option<&'a str>,
    }
    let rows: Vec<Run> = runs
        .iter()
        .map(|run| {
            let d = directory.get(&run.account);
            Run {
                run,
                directory_id: d.map(|d| d.directory_id.as_str()),
                account_display_name: d.map(|d| d.display_name.as_str()),
                folder_path: d.map(|d| d.folder_path.as_str()),
            }
        })
        .collect();
    print_rows(
        json,
        &rows,
        &[
            "ID",
            "ACCOUNT",
            "STATUS",
            "STARTED",
            "API CALLS",
            "ERROR",
            "DIRECTORY",
        ],
        |r| {
            vec![
                r.run.id.to_string(),
                r.run.account.clone(),
                r.run.status.clone(),
                r.run.started_at.clone(),
                r.run.api_calls.to_string(),
                r.run
                    .error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .unwrap_or_default()
                    .to_string(),
                match (r.account_display_name, r.folder_path) {
                    (Some(name), Some(path)) => format!("{name} {path}"),
                    _ => String::new(),
                },
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
    actions: bool,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
    let access = crate::access::Access::new(&store, account)?;
    let mut paths = match (principal, resource) {
        (Some(p), _) => access.of_principal(p)?,
        (None, Some(r)) => access.of_resource(r)?,
        (None, None) => bail!("give --principal NAME or --resource TYPE:NAME"),
    };
    if actions {
        let permissions = permissions(&store, account)?;
        for p in &mut paths {
            if let Some(policy) = p.target.strip_prefix("policy:") {
                p.actions = permissions.actions_of_policy(policy).unwrap_or_default();
            }
        }
    }
    if json {
        print_json_lines(&paths)?;
    } else if paths.is_empty() {
        println!("no access found");
    } else {
        print_lines(paths.iter().map(|p| match p.actions.is_empty() {
            true => p.line(),
            false => format!("{}\n    actions: {}", p.line(), p.actions.join(", ")),
        }));
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy documents of the account's newest sync, saying on stderr which no answer can
/// count, so that --json output stays one kind of line.
fn permissions<'s>(store: &'s Store, account: &str) -> Result<Permissions<'s>> {
    let permissions = Permissions::new(store, account)?;
    warn_unevaluated(&permissions);
    Ok(permissions)
}

fn warn_unevaluated(permissions: &Permissions<'_>) {
    for u in permissions.unreadable() {
        eprintln!(
            "warning: {} was left out: its document does not parse: {}",
            u.policy, u.error
        );
    }
    match permissions.missing_documents() {
        0 => {}
        n => eprintln!(
            "warning: {n} attached policies have no document in this sync (it was made by an older ramsync); sync again to evaluate them"
        ),
    }
}

/// `ramsync who-can`: every principal allowed an action, with paths.
pub(crate) fn who_can(
    db: &Path,
    action: &str,
    resource: Option<&str>,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
    let allowed = permissions(&store, account)?.who_can(action, resource)?;
    if json {
        print_json_lines(&allowed)?;
    } else if allowed.is_empty() {
        println!(
            "no principal is allowed {action} on {}",
            resource.unwrap_or("any resource")
        );
    } else {
        print_rows(false, &allowed, &["PRINCIPAL", "DECISION", "PATH"], |a| {
            vec![a.principal.clone(), a.decision.clone(), a.line()]
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ramsync can`: one principal's decision for an action, and why.
pub(crate) fn can(
    db: &Path,
    principal: &str,
    action: &str,
    resource: Option<&str>,
    json: bool,
    account: &str,
) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
    let answer = permissions(&store, account)?.can(principal, action, resource)?;
    if json {
        print_json_lines(std::slice::from_ref(&answer))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} {action} on {}",
        answer.principal, answer.decision, answer.resource
    );
    for d in &answer.statements {
        let mut line = format!(
            "  {} {} (statement {})",
            d.reason.effect,
            d.path.join(" -> "),
            d.reason.statement
        );
        if !d.reason.conditions.is_empty() {
            line.push_str(&format!("  [{}]", d.reason.conditions.join("; ")));
        }
        println!("{line}");
    }
    if !answer.through_roles.is_empty() {
        println!("as a role it may assume:");
        for a in &answer.through_roles {
            println!("  {} {}", a.decision, a.line());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ramsync findings`: the risky facts of the newest readable sync, most severe first.
pub(crate) fn findings(db: &Path, json: bool, account: &str) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
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
