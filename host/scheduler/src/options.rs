//! How a sync runs, and the bounds it holds plugins to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An unfinished run younger than this is resumed by a plain `sync`; `--resume` takes any.
pub const AUTO_RESUME_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// Pages one listing may take (a list, or one resource's entitlements or grants). RAM and
/// IMS list at most 1,000 items a page, so this is far past any real account.
pub const MAX_PAGES: usize = 50_000;
/// Items one page may hold.
pub const MAX_ITEMS_PER_PAGE: usize = 10_000;
/// The longest page token a plugin may return.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The account name the run is recorded under.
    pub account: String,
    /// Plugin calls in flight at once.
    pub concurrency: usize,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Resume the account's unfinished run however old it is (`--resume`).
    pub resume: bool,
    /// Set to stop at the next page boundary, leaving the run resumable.
    pub stop: Arc<AtomicBool>,
    /// Pages one listing may take before the plugin is stopped.
    pub max_pages: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            account: "default".into(),
            concurrency: 8,
            max_attempts: 5,
            max_backoff: Duration::from_secs(30),
            resume: false,
            stop: Arc::default(),
            max_pages: MAX_PAGES,
        }
    }
}

impl SyncOptions {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
