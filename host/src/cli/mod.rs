//! The command line. Command names, flags and `--json` fields are a contract scripts rely on.
//!
//! One module per command group: [`args`] (what clap parses), `sync` (sync and serve),
//! `demo` (demo and mock), `queries` (resources, grants, runs, access, findings, diff),
//! `provision` (grant and revoke), `sign`, `plugins` and `run_plugin`, and `output`
//! (tables and JSON lines). Each only parses, calls the layer below, and formats what it
//! returns; this module only dispatches to them.

use crate::manifest::Capabilities;
use anyhow::Result;
use std::process::ExitCode;

pub mod args;
mod demo;
pub mod export;
mod output;
mod plugins;
mod provision;
mod queries;
mod report;
mod run_plugin;
mod sign;
mod summary;
mod sync;

pub use args::*;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo {
            db,
            plugin_dir,
            resource_directory: false,
        } => demo::demo(&db, plugin_dir.as_deref()).await,
        Command::Demo {
            db,
            plugin_dir,
            resource_directory: true,
        } => demo::demo_directory(&db, plugin_dir.as_deref()).await,
        Command::Mock {
            listen,
            resource_directory,
            tenant,
            synthetic,
            access_key_id,
            access_key_secret,
            faults,
            latency_ms,
        } => {
            demo::mock(
                &listen,
                tenant,
                synthetic,
                (access_key_id, access_key_secret),
                faults,
                std::time::Duration::from_millis(latency_ms),
                resource_directory,
            )
            .await
        }
        Command::Sync { args, resume } => sync::sync_command(args, resume).await,
        Command::Serve { args, interval } => sync::serve(args, interval).await,
        Command::Resources {
            db,
            resource_type,
            json,
            account,
        } => queries::resources(&db, resource_type.as_deref(), json, &account),
        Command::Grants { db, json, account } => queries::grants(&db, json, &account),
        Command::Runs { db, json } => queries::runs(&db, json),
        Command::Sign { plugin_dir } => sign::sign(plugin_dir.as_deref()).await,
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
                let capabilities = Capabilities {
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
            actions,
            json,
            account,
        } => queries::access(
            &db,
            principal.as_deref(),
            resource.as_deref(),
            actions,
            json,
            &account,
        ),
        Command::WhoCan {
            db,
            action,
            resource,
            json,
            account,
        } => queries::who_can(&db, &action, resource.as_deref(), json, &account),
        Command::Can {
            db,
            principal,
            action,
            resource,
            json,
            account,
        } => queries::can(
            &db,
            &principal,
            &action,
            resource.as_deref(),
            json,
            &account,
        ),
        Command::Grant(args) => provision::provision(false, args).await,
        Command::Revoke(args) => provision::provision(true, args).await,
        Command::Findings { db, json, account } => queries::findings(&db, json, &account),
        Command::Export {
            db,
            format,
            output,
            account,
        } => export::export(&db, &account, format, &output),
        Command::Report {
            db,
            output,
            account,
        } => report::report(&db, &account, &output),
        Command::Diff {
            db,
            from_sync,
            to_sync,
            json,
            account,
        } => queries::diff(&db, from_sync, to_sync, json, &account),
    }
}
