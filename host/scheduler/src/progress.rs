//! Progress: on a terminal, one indicatif line per account with its current resource type,
//! pages, resources, grants and API calls. Off a terminal nothing is drawn; structured log
//! lines (target `ramsync::progress`, text or `--log-format json`) tell the story instead.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ramsync_model::TypeReport;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Whether progress is drawn (stderr is a terminal) or logged.
pub fn drawn() -> bool {
    std::io::stderr().is_terminal()
}

/// The display shared by the accounts of one run.
pub struct ProgressDisplay {
    multi: Option<MultiProgress>,
}

impl ProgressDisplay {
    /// Drawn on stderr when it is a terminal, else progress goes to the log.
    pub fn new() -> Self {
        ProgressDisplay {
            multi: drawn().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A display that draws nothing and logs progress lines, for tests and benchmarks.
    pub fn hidden() -> Self {
        ProgressDisplay { multi: None }
    }

    /// The progress of one account's sync.
    pub fn account(&self, account: &str) -> Progress {
        let bar = match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(account.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }
            None => ProgressBar::hidden(),
        };
        Progress {
            bar,
            logged: self.multi.is_none(),
            account: account.to_string(),
            running: Mutex::default(),
            pages: AtomicUsize::new(0),
            resources: AtomicUsize::new(0),
            grants: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
        }
    }
}

impl Default for ProgressDisplay {
    fn default() -> Self {
        Self::new()
    }
}

/// One account's progress: pages, resources, grants and API calls so far.
pub struct Progress {
    bar: ProgressBar,
    logged: bool,
    account: String,
    /// The resource types syncing now, in the order they started.
    running: Mutex<Vec<String>>,
    pages: AtomicUsize,
    resources: AtomicUsize,
    grants: AtomicUsize,
    calls: AtomicU64,
}

impl Progress {
    /// A resource type started syncing (several may sync at once).
    pub fn set_type(&self, resource_type: &str) {
        self.running_types().push(resource_type.to_string());
        if self.logged {
            tracing::info!(target: "ramsync::progress", account = %self.account, resource_type, "syncing");
        }
        self.redraw();
    }

    /// One stored page: resources listed, or one resource's grants.
    pub fn add_page(&self, resources: usize, grants: usize, calls: u64) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.resources.fetch_add(resources, Ordering::Relaxed);
        self.grants.fetch_add(grants, Ordering::Relaxed);
        self.calls.fetch_max(calls, Ordering::Relaxed);
        self.redraw();
    }

    /// A resource type finished, with its counts or error.
    pub fn type_done(&self, report: &TypeReport) {
        {
            let mut running = self.running_types();
            if let Some(at) = running.iter().position(|t| *t == report.resource_type) {
                running.remove(at);
            }
        }
        self.redraw();
        if self.logged {
            tracing::info!(
                target: "ramsync::progress",
                account = %self.account,
                resource_type = %report.resource_type,
                resources = report.resources,
                grants = report.grants,
                calls = self.calls.load(Ordering::Relaxed),
                failed = report.error.is_some(),
                "resource type done"
            );
        }
    }

    fn running_types(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn redraw(&self) {
        if self.logged {
            return;
        }
        self.bar.set_message(format!(
            "{}: {} pages, {} resources, {} grants, {} API calls",
            self.running_types().join(", "),
            self.pages.load(Ordering::Relaxed),
            self.resources.load(Ordering::Relaxed),
            self.grants.load(Ordering::Relaxed),
            self.calls.load(Ordering::Relaxed)
        ));
    }

    /// The account's sync ended: complete, failed or interrupted.
    pub fn finish(&self, interrupted: bool, failed: bool) {
        let outcome = match (interrupted, failed) {
            (true, _) => "interrupted; resumable",
            (false, true) => "failed",
            (false, false) => "complete",
        };
        if self.logged {
            tracing::info!(
                target: "ramsync::progress",
                account = %self.account,
                pages = self.pages.load(Ordering::Relaxed),
                calls = self.calls.load(Ordering::Relaxed),
                outcome,
                "sync run done"
            );
        } else {
            // The summary that follows says the same; a finished line would run into it.
            self.bar.finish_and_clear();
        }
    }
}
