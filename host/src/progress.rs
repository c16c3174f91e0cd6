//! Progress on a terminal: a spinner with the current resource type and counts.
//! Off a terminal nothing is drawn; log lines carry the story instead.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
    resources: AtomicUsize,
    grants: AtomicUsize,
}

impl Progress {
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            resources: AtomicUsize::new(0),
            grants: AtomicUsize::new(0),
        }
    }

    pub fn set_type(&self, resource_type: &str) {
        self.bar.set_prefix(resource_type.to_string());
        tracing::info!(resource_type, "syncing");
        self.redraw(0);
    }

    pub fn add_resources(&self, n: usize, calls: u64) {
        self.resources.fetch_add(n, Ordering::Relaxed);
        self.redraw(calls);
    }

    pub fn add_grants(&self, n: usize, calls: u64) {
        self.grants.fetch_add(n, Ordering::Relaxed);
        self.redraw(calls);
    }

    fn redraw(&self, calls: u64) {
        self.bar.set_message(format!(
            "{}: {} resources, {} grants, {} API calls",
            self.bar.prefix(),
            self.resources.load(Ordering::Relaxed),
            self.grants.load(Ordering::Relaxed),
            calls
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
