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
    let base = ramsync_credentials::default_chain(account.profile.as_deref())?;
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
    let progress = display.account(&account.name);
    crate::run::sync(plugins, &ctx, &mut store, &options, &progress).await
}

/// Syncs every account, a few at a time; failures are per account.
pub async fn sync_accounts(
    db: &Path,
    plugins: &Plugins,
    accounts: &[AccountConfig],
    settings: &RunSettings,
    display: &ProgressDisplay,
) -> Vec<Outcome> {
    let mut outcomes: Vec<(usize, Outcome)> = futures::stream::iter(accounts.iter().enumerate())
        .map(|(i, account)| async move {
            let started = Instant::now();
            let result = match credential_source(account) {
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
