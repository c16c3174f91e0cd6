//! What a finished sync prints: its outcome, API calls, memory and what it found.

use crate::scheduler::SyncReport;
use crate::store::Store;
use anyhow::Result;
use std::path::Path;

/// A sync's outcome: on failure what failed (stderr), else its counts (stdout).
pub(crate) fn print_sync(db: &Path, report: &SyncReport, account: &str) -> Result<()> {
    if let Some(error) = &report.error {
        let mut text = format!(
            "error: sync run {} of account {account} failed after {:.1} s and {} API calls; nothing already stored was changed, and queries still read the last complete sync.",
            report.sync_id,
            report.elapsed.as_secs_f64(),
            report.api_calls
        );
        for line in error.lines() {
            text.push_str("\n  ");
            text.push_str(line);
        }
        eprintln!("{text}");
        return Ok(());
    }
    let store = Store::open_existing(db)?;
    let (types, grants) = store.counts(report.sync_id)?;
    let memory = peak_memory_mib()
        .map(|m| format!(", peak memory {m} MiB"))
        .unwrap_or_default();
    println!(
        "sync run {} of account {account}: complete in {:.2} s, {} API calls{memory}",
        report.sync_id,
        report.elapsed.as_secs_f64(),
        report.api_calls
    );
    print_counts(&store, report.sync_id, &types, &grants)?;
    if report.types.iter().any(|t| t.plugin == "credential-report") {
        println!("{}", credential_report_line(&store, report.sync_id)?);
    }
    Ok(())
}

/// Whether the credential report spared the per-user calls, and for how many users.
fn credential_report_line(store: &Store, sync_id: i64) -> Result<String> {
    let (users, _) = store.type_counts(sync_id, "user")?;
    let (generated, oldest) =
        store.attribute_count(sync_id, "user", "credential_report_time", None)?;
    Ok(match oldest {
        None if users == 0 => "credential report: no users".to_string(),
        None => format!(
            "credential report: unavailable (it needs ram:GenerateCredentialReport and ram:GetCredentialReport, and Alibaba Cloud makes none for more than 3,500 users); all {users} users were read by per-user calls"
        ),
        Some(time) => {
            let rest = match users - generated {
                0 => String::new(),
                n => format!("; {n} users not in it were read by per-user calls"),
            };
            format!(
                "credential report: {generated} of {users} users from the report generated {time}{rest}"
            )
        }
    })
}

/// The process's peak resident memory, where the OS reports it (Linux).
pub(crate) fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

/// Resources per type (users split into active and frozen) and grants per entitlement.
pub(crate) fn print_counts(
    store: &Store,
    sync_id: i64,
    types: &[(String, i64)],
    grants: &[(String, String, i64)],
) -> Result<()> {
    println!("resources:");
    for (t, n) in types {
        let mut extra = String::new();
        if t == "user" {
            let (frozen, _) = store.attribute_count(sync_id, "user", "status", Some("frozen"))?;
            extra = format!("  ({} active, {frozen} frozen)", *n as usize - frozen);
        }
        println!("  {t:<10} {n:>7}{extra}");
    }
    println!("grants:");
    if grants.is_empty() {
        println!("  (none)");
    }
    for (t, e, n) in grants {
        println!("  {:<17} {n:>7}", format!("{t} {e}"));
    }
    Ok(())
}
