//! The command line. Command names, flags and `--json` fields are a contract scripts rely on.
//!
//! One module per command group: [`args`] (what clap parses), `sync` (sync and serve),
//! `demo` (demo and mock), `provision` (grant and revoke), `sign`, `plugins` and
//! `run_plugin`, and `output` (tables and JSON lines). Each only parses, calls the layer
//! below, and formats what it returns.

use crate::accounts::{self, RunSettings, SyncLock};
use crate::config::{AccountConfig, Config};
use crate::credentials::Credential;
use crate::engine::{Auth, CallContext, HttpRequest, Limits, Plugins};
use crate::http_policy::Endpoints;
use crate::mock::{
    DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, Fault, MockKey, MockOptions, MockServer, Tenant,
};
use crate::progress::ProgressDisplay;
use crate::scheduler::{SyncOptions, SyncReport};
use crate::store::Store;
use crate::sts::{AssumeRole, CredentialSource};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub mod args;
mod demo;
mod output;
mod plugins;
mod provision;
mod run_plugin;
mod sign;
mod sync;

pub use args::*;
use demo::*;
use output::*;
use provision::*;
use sign::*;
use sync::*;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { db, plugin_dir } => demo(&db, plugin_dir.as_deref()).await,
        Command::Mock {
            listen,
            tenant,
            synthetic,
            access_key_id,
            access_key_secret,
            faults,
            latency_ms,
        } => {
            mock(
                &listen,
                tenant,
                synthetic,
                (access_key_id, access_key_secret),
                faults,
                std::time::Duration::from_millis(latency_ms),
            )
            .await
        }
        Command::Sync { args, resume } => sync_command(args, resume).await,
        Command::Serve { args, interval } => serve(args, interval).await,
        Command::Resources {
            db,
            resource_type,
            json,
            account,
        } => {
            let store = Store::open_existing(&db)?;
            let run = store.readable_sync(&account)?;
            let rows = store.query_resources(run.id, resource_type.as_deref())?;
            if let Some(t) = &resource_type
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
        Command::Grants { db, json, account } => {
            let store = Store::open_existing(&db)?;
            let run = store.readable_sync(&account)?;
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
        Command::Runs { db, json } => {
            let store = Store::open_existing(&db)?;
            let mut runs = store.runs()?;
            // A run still marked running while no process holds the sync lock was interrupted.
            if !SyncLock::is_held(&db) {
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
        Command::Sign { plugin_dir } => sign(plugin_dir.as_deref()).await,
        Command::Plugins { command } => match command {
            PluginsCommand::List { plugin_dir, json } => plugins::list(plugin_dir.as_deref(), json),
            PluginsCommand::Verify { plugin_dir } => plugins::verify(plugin_dir.as_deref()).await,
            PluginsCommand::Export { dir } => plugins::export(&dir),
            PluginsCommand::Add {
                dir,
                wasm,
                products,
                provisions,
                actions,
                provision_actions,
                version,
            } => {
                let capabilities = crate::manifest::Capabilities {
                    products,
                    provisions,
                    actions,
                    provision_actions,
                };
                plugins::add(&dir, &wasm, capabilities, &version).await
            }
        },
        Command::RunPlugin {
            wasm,
            resource_type,
            endpoints,
            products,
            actions,
            max_resources,
        } => {
            run_plugin::run_plugin(run_plugin::RunPlugin {
                wasm,
                resource_type,
                endpoints,
                products,
                actions,
                max_resources,
            })
            .await
        }
        Command::Access {
            db,
            principal,
            resource,
            json,
            account,
        } => {
            let store = Store::open_existing(&db)?;
            let access = crate::access::Access::new(&store, &account)?;
            let paths = match (&principal, &resource) {
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
        Command::Grant(args) => provision(false, args).await,
        Command::Revoke(args) => provision(true, args).await,
        Command::Findings { db, json, account } => {
            let store = Store::open_existing(&db)?;
            let findings = crate::findings::findings(&store, &account)?;
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
        Command::Diff {
            db,
            from_sync,
            to_sync,
            json,
            account,
        } => {
            // Exit 1 means "changed", so errors exit 2 here.
            let result = (|| -> Result<_> {
                let store = Store::open_existing(&db)?;
                let (from, to) = crate::diff::pick(&store, &account, from_sync, to_sync)?;
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
    }
}
