//! Progress of a sync, per account and per resource type, in one of three forms:
//!
//! - on a terminal (`--progress auto`, the default), one indicatif line per account:
//!   each running type with its counts, pages, API calls, and an ETA measured against the API
//!   calls of the account's last complete sync;
//! - `--progress json`: one JSON event per line on stderr (`account_started`, `type_started`,
//!   `progress` at most twice a second per account, `type_done`, `account_done`), for
//!   machines;
//! - otherwise nothing is drawn, and structured log lines (target `ramsync::progress`) tell
//!   the story.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ramsync_model::TypeReport;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A line per account when stderr is a terminal, else log lines.
    #[default]
    Auto,
    /// JSON events on stderr.
    Json,
    /// Log lines only.
    Off,
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProgressMode::Auto),
            "json" => Ok(ProgressMode::Json),
            "off" => Ok(ProgressMode::Off),
            other => Err(format!(
                "{other:?} is not a progress mode; use auto, json or off"
            )),
        }
    }
}

/// Whether progress is drawn (stderr is a terminal) or logged.
pub fn drawn() -> bool {
    std::io::stderr().is_terminal()
}

/// How a display writes.
enum Output {
    Bars(MultiProgress),
    Json,
    Log,
}

/// The display shared by the accounts of one run.
pub struct ProgressDisplay {
    output: Output,
}

/// JSON progress events are written whole, one line at a time.
static JSON_LOCK: Mutex<()> = Mutex::new(());

fn emit(event: serde_json::Value) {
    let line = format!("{event}\n");
    let _guard = JSON_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl ProgressDisplay {
    /// Drawn on stderr when it is a terminal, else progress goes to the log.
    pub fn new() -> Self {
        Self::with_mode(ProgressMode::Auto)
    }

    /// A display in the given mode.
    pub fn with_mode(mode: ProgressMode) -> Self {
        let output = match mode {
            ProgressMode::Auto if drawn() => {
                Output::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            }
            ProgressMode::Json => Output::Json,
            ProgressMode::Auto | ProgressMode::Off => Output::Log,
        };
        ProgressDisplay { output }
    }

    /// A display that draws nothing and logs progress lines, for tests and benchmarks.
    pub fn hidden() -> Self {
        ProgressDisplay {
            output: Output::Log,
        }
    }

    /// The progress of one account's sync, with no estimate of its length.
    pub fn account(&self, account: &str) -> Progress {
        self.account_expecting(account, None)
    }

    /// The progress of one account's sync, expected to take about `expected_calls` API
    /// calls (its last complete sync's), from which the ETA is estimated.
    pub fn account_expecting(&self, account: &str, expected_calls: Option<u64>) -> Progress {
        let bar = match &self.output {
            Output::Bars(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(account.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }
            _ => ProgressBar::hidden(),
        };
        let json = matches!(self.output, Output::Json);
        if json {
            emit(json!({
                "event": "account_started",
                "ts": now(),
                "account": account,
                "expected_api_calls": expected_calls,
            }));
        }
        Progress {
            bar,
            logged: matches!(self.output, Output::Log),
            json,
            account: account.to_string(),
            started: Instant::now(),
            expected_calls: expected_calls.filter(|n| *n > 0),
            last_event: Mutex::new(None),
            running: Mutex::default(),
            types: Mutex::default(),
            pages: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
        }
    }
}

impl Default for ProgressDisplay {
    fn default() -> Self {
        Self::new()
    }
}

/// Resources and grants of one type so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounts {
    /// Resources listed.
    pub resources: usize,
    /// Grants stored.
    pub grants: usize,
}

/// One account's progress: per type, pages and API calls so far.
pub struct Progress {
    bar: ProgressBar,
    logged: bool,
    json: bool,
    account: String,
    started: Instant,
    expected_calls: Option<u64>,
    last_event: Mutex<Option<Instant>>,
    /// The resource types syncing now, in the order they started.
    running: Mutex<Vec<String>>,
    types: Mutex<BTreeMap<String, TypeCounts>>,
    pages: AtomicUsize,
    calls: AtomicU64,
}

/// The time left, estimated from the calls made so far against those expected: None
/// before the first call, or once more calls were made than expected.
pub fn eta(elapsed: Duration, calls: u64, expected: Option<u64>) -> Option<Duration> {
    let expected = expected?;
    if calls == 0 || calls >= expected {
        return None;
    }
    Some(elapsed.mul_f64((expected - calls) as f64 / calls as f64))
}

/// `1m 05s`, `42s`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl Progress {
    /// A resource type started syncing (several may sync at once).
    pub fn set_type(&self, resource_type: &str) {
        self.running_types().push(resource_type.to_string());
        self.counts().entry(resource_type.to_string()).or_default();
        if self.logged {
            tracing::info!(target: "ramsync::progress", account = %self.account, resource_type, "syncing");
        }
        if self.json {
            emit(json!({
                "event": "type_started",
                "ts": now(),
                "account": self.account,
                "resource_type": resource_type,
            }));
        }
        self.redraw();
    }

    /// One stored page of `resource_type`: resources listed, or one resource's grants.
    pub fn add_page(&self, resource_type: &str, resources: usize, grants: usize, calls: u64) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        {
            let mut types = self.counts();
            let c = types.entry(resource_type.to_string()).or_default();
            c.resources += resources;
            c.grants += grants;
        }
        self.calls.fetch_max(calls, Ordering::Relaxed);
        self.redraw();
        if self.json {
            let mut last = self.last_event.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                *last = Some(Instant::now());
                drop(last);
                emit(self.progress_event());
            }
        }
    }

    fn progress_event(&self) -> serde_json::Value {
        let calls = self.calls.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let types: serde_json::Map<String, serde_json::Value> = self
            .counts()
            .iter()
            .map(|(t, c)| {
                (
                    t.clone(),
                    json!({"resources": c.resources, "grants": c.grants}),
                )
            })
            .collect();
        json!({
            "event": "progress",
            "ts": now(),
            "account": self.account,
            "running": self.running_distinct(),
            "types": types,
            "pages": self.pages.load(Ordering::Relaxed),
            "api_calls": calls,
            "expected_api_calls": self.expected_calls,
            "elapsed_seconds": elapsed.as_secs_f64(),
            "eta_seconds": eta(elapsed, calls, self.expected_calls).map(|d| d.as_secs_f64()),
        })
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
        if self.json {
            emit(json!({
                "event": "type_done",
                "ts": now(),
                "account": self.account,
                "resource_type": report.resource_type,
                "plugin": report.plugin,
                "resources": report.resources,
                "grants": report.grants,
                "failed": report.error.is_some(),
            }));
        }
    }

    /// The types syncing now, each once (several plugins may sync one type).
    fn running_distinct(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for t in self.running_types().iter() {
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
        types
    }

    fn running_types(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TypeCounts>> {
        self.types.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The line drawn for the account: each running type with its counts, then the totals
    /// and the ETA.
    pub fn line(&self) -> String {
        let counts = self.counts();
        let running: Vec<String> = self
            .running_distinct()
            .iter()
            .map(|t| {
                let c = counts.get(t).copied().unwrap_or_default();
                match c.grants {
                    0 => format!("{t} {}", c.resources),
                    g => format!("{t} {} ({g} grants)", c.resources),
                }
            })
            .collect();
        let calls = self.calls.load(Ordering::Relaxed);
        let mut line = format!(
            "{} | {} pages, {calls} API calls",
            running.join(", "),
            self.pages.load(Ordering::Relaxed)
        );
        if let Some(expected) = self.expected_calls {
            line.push_str(&format!(" of about {expected}"));
            if let Some(left) = eta(self.started.elapsed(), calls, Some(expected)) {
                line.push_str(&format!(", ETA {}", short(left)));
            }
        }
        line
    }

    fn redraw(&self) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_message(self.line());
    }

    /// The account's sync ended: complete, failed or interrupted.
    pub fn finish(&self, interrupted: bool, failed: bool) {
        let outcome = match (interrupted, failed) {
            (true, _) => "interrupted",
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
        } else if self.json {
            emit(self.progress_event());
            emit(json!({
                "event": "account_done",
                "ts": now(),
                "account": self.account,
                "outcome": outcome,
                "pages": self.pages.load(Ordering::Relaxed),
                "api_calls": self.calls.load(Ordering::Relaxed),
                "elapsed_seconds": self.started.elapsed().as_secs_f64(),
            }));
        } else {
            // The summary that follows says the same; a finished line would run into it.
            self.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_scales_the_elapsed_time_by_the_calls_left() {
        let s = Duration::from_secs;
        assert_eq!(eta(s(10), 100, Some(400)), Some(s(30)));
        assert_eq!(eta(s(10), 0, Some(400)), None);
        assert_eq!(eta(s(10), 400, Some(400)), None);
        assert_eq!(eta(s(10), 100, None), None);
        assert_eq!(short(s(65)), "1m 05s");
        assert_eq!(short(s(7322)), "2h 02m");
    }

    #[test]
    fn the_line_shows_each_running_type_and_the_estimate() {
        let p = ProgressDisplay::hidden().account_expecting("prod", Some(400));
        p.set_type("user");
        p.set_type("user");
        p.set_type("access-key");
        p.add_page("user", 100, 0, 50);
        p.add_page("access-key", 0, 3, 100);
        let line = p.line();
        assert!(
            line.starts_with(
                "user 100, access-key 0 (3 grants) | 2 pages, 100 API calls of about 400, ETA "
            ),
            "{line}"
        );
    }
}
