//! Syncing many accounts in one run: each account gets its own credentials, endpoints,
//! request rate and sync run in the store, and one account's failure never stops another.
//! One process at a time writes a database; the lock file beside it says which.

use crate::config::AccountConfig;
use crate::options::SyncOptions;
use crate::progress::ProgressDisplay;
use crate::run::SyncReport;
use anyhow::{Context, Result};
use futures::StreamExt;
use ramsync_credentials::sts::CredentialSource;
use ramsync_engine::http_policy::RateLimits;
use ramsync_engine::{Auth, CallContext, Plugins};
use ramsync_store::Store;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// An exclusive lock on a database for syncing, held until dropped. The OS releases it
/// when the process dies, so a killed sync never leaves a stale lock behind.
pub struct SyncLock {
    _file: File,
}

/// The lock file of a database: beside the file the path resolves to, so that a symlink
/// (or another spelling of the path) to the same database takes the same lock.
fn lock_path(db: &Path) -> PathBuf {
    let resolved = std::fs::canonicalize(db).unwrap_or_else(|_| {
        // Not created yet: resolve its directory; the file name stays as given.
        match (db.parent(), db.file_name()) {
            (Some(dir), Some(file)) => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                std::fs::canonicalize(dir)
                    .map(|d| d.join(file))
                    .unwrap_or_else(|_| db.to_path_buf())
            }
            _ => db.to_path_buf(),
        }
    });
    let mut name = resolved.into_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

impl SyncLock {
    /// Takes the lock on `db`, or says which process holds it.
    pub fn acquire(db: &Path) -> Result<Self> {
        let path = lock_path(db);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot open database {}: cannot create its lock file {}",
                    db.display(),
                    path.display()
                )
            })?;
        match file.try_lock() {
            Ok(()) => Ok(SyncLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another ramsync process is syncing into {}; wait for it to finish (lock file {})",
                db.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// Whether a process is syncing into `db` now.
    pub fn is_held(db: &Path) -> bool {
        let Ok(file) = File::open(lock_path(db)) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

/// Takes a database for syncing: its lock, its schema (migrated once here, before any
/// account opens its own connection), and the plugins, loaded once for every account.
pub async fn prepare(db: &Path, plugin_dir: Option<&Path>) -> Result<(SyncLock, Plugins)> {
    let lock = SyncLock::acquire(db)?;
    Store::open_or_create(db)?;
    let plugins = Plugins::load(plugin_dir, ramsync_engine::Limits::default()).await?;
    Ok((lock, plugins))
}

/// Settings shared by the accounts of one run.
#[derive(Clone)]
pub struct RunSettings {
    /// Plugin calls in flight at once, per account.
    pub concurrency: usize,
    /// Requests per second per product for accounts that set none; None for no limit.
    pub default_qps: Option<u32>,
    /// Accounts synced at the same time.
    pub parallel_accounts: usize,
    /// Resume each account's unfinished run however old it is (`--resume`).
    pub resume: bool,
    /// Set to stop every account at its next page boundary, leaving the runs resumable.
    pub stop: Arc<AtomicBool>,
    /// How progress is shown.
    pub progress: crate::progress::ProgressMode,
}

impl Default for RunSettings {
    /// One account at a time, with the scheduler's defaults and no rate limit.
    fn default() -> Self {
        let sync = SyncOptions::default();
        RunSettings {
            concurrency: sync.concurrency,
            default_qps: None,
            parallel_accounts: 1,
            resume: sync.resume,
            stop: sync.stop,
            progress: Default::default(),
        }
    }
}

/// How one account's sync ended.
pub struct Outcome {
    /// The account's name.
    pub account: String,
    /// The report, or why the sync could not start (for example, no credentials).
    pub result: std::result::Result<SyncReport, String>,
    /// How long the account took, credentials included.
    pub elapsed: Duration,
}

/// Where an account's credentials come from: its profile (or the default chain), then
/// each of its roles in turn.
pub fn credential_source(account: &AccountConfig) -> Result<CredentialSource> {
    credential_source_from(account, None)
}

/// The account's credentials starting from `base` (the demo's key) instead of its profile.
fn credential_source_from(
    account: &AccountConfig,
    base: Option<&ramsync_credentials::Credential>,
) -> Result<CredentialSource> {
    let base = match base {
        Some(c) => CredentialSource::Fixed(c.clone()),
        None => ramsync_credentials::default_chain(account.profile.as_deref())?,
    };
    Ok(account
        .assume_roles
        .iter()
        .fold(base, |source, spec| source.assume(spec.clone())))
}

/// Syncs one account with the given credentials.
pub async fn sync_account(
    db: &Path,
    plugins: &Plugins,
    account: &AccountConfig,
    source: CredentialSource,
    settings: &RunSettings,
    display: &ProgressDisplay,
) -> Result<SyncReport> {
    let mut store = Store::open_or_create(db)?;
    let auth = Arc::new(Auth {
        signer: plugins.signer.clone(),
        source,
    });
    let qps = account.qps.or(settings.default_qps);
    let ctx = CallContext::with_rates(
        account.endpoints.clone(),
        Some(auth),
        plugins.limits,
        RateLimits::new(qps),
    );
    let options = SyncOptions {
        account: account.name.clone(),
        concurrency: settings.concurrency,
        resume: settings.resume,
        stop: settings.stop.clone(),
        ..SyncOptions::default()
    };
    // The last complete sync's API calls are what this one is expected to take.
    let expected = store
        .latest_complete(&account.name)?
        .map(|run| run.api_calls.max(0) as u64);
    let progress = display.account_expecting(&account.name, expected);
    let report = crate::run::sync(plugins, &ctx, &mut store, &options, &progress).await?;
    if let Some(p) = &account.placement {
        // The account resource says where the account sits in its directory.
        store.add_attributes(
            report.sync_id,
            "account",
            &[
                ("resource_directory_id".into(), p.directory_id.clone()),
                ("directory_display_name".into(), p.display_name.clone()),
                ("folder_path".into(), p.folder_path.clone()),
            ],
        )?;
    }
    Ok(report)
}

/// Lists a Resource Directory with the management account's credentials and syncs the
/// accounts `directory` selects, each through its member role (the management account with
/// its own credentials). Listing failures are this function's error; an account that cannot
/// be synced is one failed outcome.
/// `base` replaces the profile's credentials (the demo's key).
pub async fn sync_directory(
    db: &Path,
    plugins: &Plugins,
    directory: &crate::directory::DirectoryConfig,
    settings: &RunSettings,
    display: &ProgressDisplay,
    base: Option<&ramsync_credentials::Credential>,
) -> Result<Vec<Outcome>> {
    let source = match base {
        Some(c) => CredentialSource::Fixed(c.clone()),
        None => ramsync_credentials::default_chain(directory.profile.as_deref())?,
    };
    let source = directory
        .assume_roles
        .iter()
        .fold(source, |source, spec| source.assume(spec.clone()));
    let credential = source
        .current(&*plugins.signer, &directory.endpoints)
        .await
        .context("the credentials that list the resource directory")?;
    let listed =
        crate::directory::discover(&*plugins.signer, &directory.endpoints, &credential).await?;
    let selected = crate::directory::select(&listed, directory);
    for entry in &directory.include {
        if !listed
            .accounts
            .iter()
            .any(|p| crate::directory::covers(entry, p))
        {
            tracing::warn!(include = %entry, "no account of the resource directory matches this include");
        }
    }
    if selected.is_empty() {
        anyhow::bail!(
            "no account of the resource directory {} is selected: {} listed, none left by the include and exclude rules",
            listed.id,
            listed.accounts.len()
        );
    }
    tracing::info!(
        directory = %listed.id,
        management_account = %listed.master_account_id,
        accounts = listed.accounts.len(),
        selected = selected.len(),
        "listed the resource directory"
    );
    // Every listed account is recorded, selected or not, so that grants naming one of
    // them name it.
    Store::open_or_create(db)?.put_directory_accounts(
        &listed
            .accounts
            .iter()
            .map(|p| ramsync_model::DirectoryAccount {
                account: p.account_id.clone(),
                directory_id: p.directory_id.clone(),
                account_id: p.account_id.clone(),
                display_name: p.display_name.clone(),
                folder_path: p.folder_path.clone(),
            })
            .collect::<Vec<_>>(),
    )?;
    let accounts: Vec<AccountConfig> = selected
        .iter()
        .map(|p| crate::directory::account_config(directory, p))
        .collect();
    Ok(sync_accounts_from(db, plugins, &accounts, settings, display, base).await)
}

/// Syncs every account, a few at a time; failures are per account.
pub async fn sync_accounts(
    db: &Path,
    plugins: &Plugins,
    accounts: &[AccountConfig],
    settings: &RunSettings,
    display: &ProgressDisplay,
) -> Vec<Outcome> {
    sync_accounts_from(db, plugins, accounts, settings, display, None).await
}

async fn sync_accounts_from(
    db: &Path,
    plugins: &Plugins,
    accounts: &[AccountConfig],
    settings: &RunSettings,
    display: &ProgressDisplay,
    base: Option<&ramsync_credentials::Credential>,
) -> Vec<Outcome> {
    let mut outcomes: Vec<(usize, Outcome)> = futures::stream::iter(accounts.iter().enumerate())
        .map(|(i, account)| async move {
            let started = Instant::now();
            let result = match credential_source_from(account, base) {
                Err(e) => {
                    let message = format!("credentials: {e:#}");
                    record_failure(db, &account.name, &message);
                    Err(message)
                }
                Ok(source) => sync_account(db, plugins, account, source, settings, display)
                    .await
                    .map_err(|e| format!("{e:#}")),
            };
            let outcome = Outcome {
                account: account.name.clone(),
                result,
                elapsed: started.elapsed(),
            };
            (i, outcome)
        })
        .buffer_unordered(settings.parallel_accounts.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// The run name a Resource Directory that could not be listed is recorded under.
pub const DIRECTORY_RUN: &str = "resource-directory";

/// A Resource Directory that could not be listed, as one failed outcome (and run).
pub fn directory_failure(db: &Path, error: &anyhow::Error, started: Instant) -> Outcome {
    let message = format!("listing the resource directory: {error:#}");
    record_failure(db, DIRECTORY_RUN, &message);
    Outcome {
        account: DIRECTORY_RUN.into(),
        result: Err(message),
        elapsed: started.elapsed(),
    }
}

/// Records an account that could not start as a failed run, so `runs` shows it.
fn record_failure(db: &Path, account: &str, message: &str) {
    let recorded = Store::open_or_create(db).and_then(|mut store| {
        let id = store.begin_sync(account)?;
        store.finish_sync(id, Some(message), 0)
    });
    if let Err(e) = recorded {
        tracing::warn!(account, error = %format!("{e:#}"), "could not record the failed run");
    }
}
