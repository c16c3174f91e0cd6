//! `sync` and `serve`: the accounts to sync, signals, and the summary.

use crate::accounts::{self, RunSettings};
use crate::config::{AccountConfig, Config};
use crate::http_policy::Endpoints;
use crate::progress::ProgressDisplay;
use crate::store::Store;
use crate::sts::AssumeRole;
use anyhow::{Result, bail};
use ramsync_scheduler::directory::DirectoryConfig;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::SyncArgs;
use super::output::print_table;
use super::summary::print_sync;

/// What a `sync` or `serve` covers: the accounts of the config file, or the one the flags
/// describe; the config file's path, if one was read; and its Resource Directory, unless
/// `--account` picks one account.
pub(crate) struct Plan {
    pub(crate) accounts: Vec<AccountConfig>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) directory: Option<DirectoryConfig>,
}

pub(crate) fn plan(args: &SyncArgs) -> Result<Plan> {
    let single_flags =
        !args.endpoints.is_empty() || args.profile.is_some() || !args.assume_role.is_empty();
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None if !single_flags
            && !args.resource_directory
            && Path::new(crate::config::DEFAULT_PATH).is_file() =>
        {
            tracing::info!("reading accounts from ./{}", crate::config::DEFAULT_PATH);
            Some(PathBuf::from(crate::config::DEFAULT_PATH))
        }
        None => None,
    };
    if let Some(path) = path {
        if args.resource_directory {
            bail!(
                "--resource-directory describes the directory with the one-account flags (--profile, --endpoint, --assume-role) and cannot be combined with a config file; use [resource_directory] in {}",
                path.display()
            );
        }
        if single_flags {
            bail!(
                "--endpoint, --profile and --assume-role describe one account and cannot be combined with --config; set them per account in {}",
                path.display()
            );
        }
        let config = Config::load(&path)?;
        let directory = match &args.account {
            None => config.directory,
            Some(_) => None,
        };
        let accounts = match &args.account {
            None => config.accounts,
            Some(name) => {
                let names: Vec<String> = config.accounts.iter().map(|a| a.name.clone()).collect();
                let Some(account) = config.accounts.into_iter().find(|a| &a.name == name) else {
                    bail!(
                        "no account {name:?} in {}; it has {}",
                        path.display(),
                        names.join(", ")
                    );
                };
                vec![account]
            }
        };
        return Ok(Plan {
            accounts,
            config: Some(path),
            directory,
        });
    }
    let mut endpoints = Endpoints::default();
    for (product, url) in &args.endpoints {
        endpoints.set(product, url)?;
    }
    let mut roles = Vec::new();
    for (i, arn) in args.assume_role.iter().enumerate() {
        if !arn.starts_with("acs:ram::") || !arn.contains(":role/") {
            bail!(
                "--assume-role takes a role ARN like acs:ram::1234567890123456:role/ramsync-reader; got {arn:?}"
            );
        }
        let mut spec = AssumeRole::new(arn);
        spec.session_name = args.role_session_name.clone();
        spec.duration_seconds = args.duration_seconds;
        if i + 1 == args.assume_role.len() {
            spec.external_id = args.external_id.clone();
        }
        roles.push(spec);
    }
    let account = AccountConfig {
        name: args.account.clone().unwrap_or_else(|| "default".into()),
        profile: args.profile.clone(),
        qps: None,
        endpoints,
        assume_roles: roles,
        placement: None,
    };
    if args.resource_directory {
        return Ok(Plan {
            accounts: Vec::new(),
            config: None,
            directory: Some(directory_plan(args, account)),
        });
    }
    Ok(Plan {
        accounts: vec![account],
        config: None,
        directory: None,
    })
}

pub(crate) fn settings(args: &SyncArgs, resume: bool, stop: Arc<AtomicBool>) -> RunSettings {
    RunSettings {
        concurrency: args.concurrency as usize,
        default_qps: (args.qps > 0).then_some(args.qps),
        parallel_accounts: args.parallel_accounts as usize,
        resume,
        stop,
        progress: args.progress,
    }
}

/// Sets `stop` on SIGTERM or Ctrl-C, so the run ends after the pages in flight and stays
/// resumable; a second signal exits at once (the checkpoints make that safe too).
pub(crate) fn stop_on_signal(stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!(
            "stopping: finishing the calls in flight and saving where the sync got to (signal again to quit at once)"
        );
        stop.store(true, Ordering::SeqCst);
        wake.notify_one();
        shutdown_signal().await;
        eprintln!("stopped at once; the next sync resumes from the last stored page");
        std::process::exit(130);
    });
}

/// The Resource Directory `--resource-directory` describes, from the one-account flags.
fn directory_plan(args: &SyncArgs, account: AccountConfig) -> DirectoryConfig {
    let mut d = DirectoryConfig::new(account.endpoints);
    d.profile = account.profile;
    d.assume_roles = account.assume_roles;
    d.role_name = args.member_role.clone();
    d.external_id = args.member_external_id.clone();
    d.include = args.include.clone();
    d.exclude = args.exclude.clone();
    d
}

pub(crate) async fn sync_command(args: SyncArgs, resume: bool) -> Result<ExitCode> {
    let Plan {
        accounts,
        config,
        directory,
    } = plan(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone(), Arc::default());
    let settings = settings(&args, resume, stop);
    if config.is_none() && directory.is_none() {
        // One account from flags: a credential problem is this command's error.
        let account = &accounts[0];
        let source = accounts::credential_source(account)?;
        let (_lock, plugins) = accounts::prepare(&args.db, args.plugin_dir.as_deref()).await?;
        let display = ProgressDisplay::with_mode(settings.progress);
        let report =
            accounts::sync_account(&args.db, &plugins, account, source, &settings, &display)
                .await?;
        print_sync(&args.db, &report, &account.name)?;
        return Ok(exit_code(report.is_complete()));
    }
    let outcomes = sync_all(
        &args.db,
        &accounts,
        directory.as_ref(),
        &settings,
        args.plugin_dir.as_deref(),
    )
    .await?;
    print_summary(&args.db, &outcomes)?;
    Ok(exit_code(
        !outcomes.is_empty()
            && outcomes
                .iter()
                .all(|o| o.result.as_ref().is_ok_and(|r| r.is_complete())),
    ))
}

pub(crate) fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub(crate) async fn sync_all(
    db: &Path,
    accounts: &[AccountConfig],
    directory: Option<&DirectoryConfig>,
    settings: &RunSettings,
    plugin_dir: Option<&Path>,
) -> Result<Vec<accounts::Outcome>> {
    let (_lock, plugins) = accounts::prepare(db, plugin_dir).await?;
    let display = ProgressDisplay::with_mode(settings.progress);
    let mut outcomes = accounts::sync_accounts(db, &plugins, accounts, settings, &display).await;
    if let Some(directory) = directory {
        let started = std::time::Instant::now();
        match accounts::sync_directory(db, &plugins, directory, settings, &display, None).await {
            Ok(members) => outcomes.extend(members),
            // The directory could not be listed: one failed line, the accounts above stand.
            Err(e) => outcomes.push(accounts::directory_failure(db, &e, started)),
        }
    }
    Ok(outcomes)
}

pub(crate) async fn serve(args: SyncArgs, interval: std::time::Duration) -> Result<ExitCode> {
    let Plan {
        accounts,
        config,
        directory,
    } = plan(&args)?;
    if config.is_none() {
        // Check the credentials once up front, so a typo fails now rather than every hour.
        let profile = match (&directory, accounts.first()) {
            (Some(d), _) => d.profile.as_deref(),
            (None, Some(a)) => a.profile.as_deref(),
            (None, None) => None,
        };
        crate::credentials::default_chain(profile)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    stop_on_signal(stop.clone(), wake.clone());
    let settings = settings(&args, false, stop.clone());
    let mut names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    if directory.is_some() {
        names.push("the accounts of the resource directory");
    }
    eprintln!(
        "serving: syncing {} into {} every {}; stop with SIGTERM or Ctrl-C",
        names.join(", "),
        args.db.display(),
        humantime::format_duration(interval)
    );
    loop {
        let started = std::time::Instant::now();
        match sync_all(
            &args.db,
            &accounts,
            directory.as_ref(),
            &settings,
            args.plugin_dir.as_deref(),
        )
        .await
        {
            Ok(outcomes) => {
                for o in &outcomes {
                    log_outcome(o);
                }
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "sync run could not start; trying again at the next interval")
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let next = interval.saturating_sub(started.elapsed());
        tracing::info!(next_in = %humantime::format_duration(next), "waiting for the next run");
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = wake.notified() => break,
        }
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn log_outcome(o: &accounts::Outcome) {
    match &o.result {
        Ok(r) if r.is_complete() => {
            tracing::warn!(account = %o.account, sync_run = r.sync_id, api_calls = r.api_calls, seconds = o.elapsed.as_secs_f64(), "sync complete")
        }
        Ok(r) if r.interrupted => {
            tracing::warn!(account = %o.account, sync_run = r.sync_id, "sync interrupted; it resumes on the next run")
        }
        Ok(r) => {
            tracing::error!(account = %o.account, sync_run = r.sync_id, error = r.error.as_deref().unwrap_or_default(), "sync failed")
        }
        Err(e) => tracing::error!(account = %o.account, error = %e, "sync failed"),
    }
}

/// One line per account, then the reasons for failures.
pub(crate) fn print_summary(db: &Path, outcomes: &[accounts::Outcome]) -> Result<()> {
    let store = Store::open_existing(db)?;
    let directory = store.directory_accounts()?;
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for o in outcomes {
        // Accounts of a directory are named by id; show their display name and folder too.
        let label = match directory.get(&o.account) {
            Some(d) => format!("{} {} {}", o.account, d.display_name, d.folder_path),
            None => o.account.clone(),
        };
        let (run, status, resources, grants, calls) = match &o.result {
            Ok(r) => {
                let status = if r.interrupted {
                    "interrupted"
                } else if r.error.is_some() {
                    "failed"
                } else {
                    "complete"
                };
                let (types, grants) = store.counts(r.sync_id)?;
                (
                    r.sync_id.to_string(),
                    status,
                    types.iter().map(|(_, n)| n).sum::<i64>().to_string(),
                    grants.iter().map(|(_, _, n)| n).sum::<i64>().to_string(),
                    r.api_calls.to_string(),
                )
            }
            Err(_) => ("-".into(), "failed", "-".into(), "-".into(), "0".into()),
        };
        rows.push(vec![
            label.clone(),
            status.to_string(),
            run,
            resources,
            grants,
            calls,
            format!("{:.2} s", o.elapsed.as_secs_f64()),
        ]);
        match &o.result {
            Err(e) => details.push(format!("{label}: {e}")),
            Ok(r) => {
                if let Some(e) = &r.error {
                    for line in e.lines() {
                        details.push(format!("{label}: {line}"));
                    }
                }
                if r.interrupted {
                    details.push(format!(
                        "{}: interrupted; `ramsync sync --resume` continues run {}",
                        o.account, r.sync_id
                    ));
                }
            }
        }
    }
    print_table(
        &[
            "ACCOUNT",
            "STATUS",
            "RUN",
            "RESOURCES",
            "GRANTS",
            "API CALLS",
            "TIME",
        ],
        rows,
    );
    let failed = outcomes
        .iter()
        .filter(|o| !o.result.as_ref().is_ok_and(|r| r.is_complete()))
        .count();
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} accounts did not complete; queries for them still read their last complete sync:",
            outcomes.len()
        );
        for d in details {
            eprintln!("  {d}");
        }
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
