//! `export`: the newest complete sync of an account as JSON Lines (every resource,
//! entitlement and grant, one record a line), as CSV (one row per grant, for spreadsheets),
//! or as a ConductorOne baton c1z file.

use crate::store::Store;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line: `sync`, then each `resource`, `entitlement` and `grant`.
    Jsonl,
    /// One row per grant, with the resource and the principal, for spreadsheets.
    Csv,
    /// ConductorOne baton's c1z file (SQLite format), for `baton` and ConductorOne.
    C1z,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "account",
    "resource_type",
    "resource_id",
    "resource_name",
    "entitlement",
    "principal_type",
    "principal_id",
    "principal_name",
    "conditions",
    "attributes",
];

/// Writes the export to `out` (`-` for stdout) through a temporary file, so that a failed
/// export never leaves half a file behind.
pub(crate) fn export(
    db: &Path,
    account: &str,
    format: ExportFormat,
    out: &Path,
) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
    let run = store.readable_sync(account)?;
    let mut buffer: Vec<u8> = Vec::new();
    match format {
        ExportFormat::Jsonl => jsonl(&store, account, &run, &mut buffer)?,
        ExportFormat::Csv => csv(&store, account, run.id, &mut buffer)?,
        ExportFormat::C1z => buffer = c1z(&store, &run)?,
    }
    if out == Path::new("-") {
        std::io::stdout()
            .write_all(&buffer)
            .or_else(super::output::ignore_broken_pipe)?;
        return Ok(ExitCode::SUCCESS);
    }
    super::output::write_file(out, &buffer)?;
    eprintln!(
        "wrote sync run {} of account {account} to {} ({} bytes)",
        run.id,
        out.display(),
        buffer.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn c1z(store: &Store, run: &crate::store::SyncRun) -> Result<Vec<u8>> {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("sync run {} has an unreadable time {t:?}", run.id))
    };
    let started_at = parse(&run.started_at)?;
    let ended_at = match &run.finished_at {
        Some(t) => parse(t)?,
        None => started_at,
    };
    ramsync_c1z::encode(&ramsync_c1z::Sync {
        resource_types: &store.resource_types(run.id)?,
        resources: &store.query_resources(run.id, None)?,
        entitlements: &store.query_entitlements(run.id)?,
        grants: &store.query_grants(run.id)?,
        started_at,
        ended_at,
    })
}

fn line(out: &mut Vec<u8>, value: serde_json::Value) -> Result<()> {
    serde_json::to_writer(&mut *out, &value)?;
    out.push(b'\n');
    Ok(())
}

fn jsonl(
    store: &Store,
    account: &str,
    run: &crate::store::SyncRun,
    out: &mut Vec<u8>,
) -> Result<()> {
    line(
        out,
        json!({
            "record": "sync",
            "account": account,
            "sync_run": run.id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        }),
    )?;
    let tagged = |record: &str, value: serde_json::Value| {
        let mut value = value;
        if let Some(map) = value.as_object_mut() {
            map.insert("record".into(), json!(record));
        }
        value
    };
    for r in store.query_resources(run.id, None)? {
        line(out, tagged("resource", serde_json::to_value(&r)?))?;
    }
    for e in store.query_entitlements(run.id)? {
        line(out, tagged("entitlement", serde_json::to_value(&e)?))?;
    }
    for g in store.query_grants(run.id)? {
        line(out, tagged("grant", serde_json::to_value(&g)?))?;
    }
    Ok(())
}

/// The conditions of a grant a reviewer needs in one cell: ExternalId, MFA, source IP.
fn conditions(g: &crate::store::GrantRow) -> String {
    let flag = |k: &str| g.attributes.get(k).and_then(|v| v.as_bool()) == Some(true);
    let mut out = Vec::new();
    if flag("external_id_required") {
        out.push("ExternalId required".to_string());
    }
    if flag("mfa_required") {
        out.push("MFA required".to_string());
    }
    if let Some(ip) = g.attributes.get("source_ip").and_then(|v| v.as_str()) {
        out.push(format!("source IP {ip}"));
    }
    out.join("; ")
}

fn csv(store: &Store, account: &str, sync_id: i64, out: &mut Vec<u8>) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    for g in store.query_grants(sync_id)? {
        // A cell a spreadsheet would take for a formula starts with a quote instead.
        let cell = |s: &str| -> String {
            match s.chars().next() {
                Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
                _ => s.to_string(),
            }
        };
        w.write_record([
            cell(account),
            cell(&g.resource_type),
            cell(&g.resource_id),
            cell(&g.resource_name),
            cell(&g.entitlement),
            cell(&g.principal_type),
            cell(&g.principal_id),
            cell(&g.principal_name),
            cell(&conditions(&g)),
            serde_json::Value::Object(g.attributes.clone()).to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
