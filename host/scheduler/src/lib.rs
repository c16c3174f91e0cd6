//! The scheduler: walks resource types, then each type's resources page by page, then
//! the entitlements and grants of each resource with bounded concurrency. Throttled and
//! transient failures are retried with backoff and jitter; each retry is signed afresh.
//! Every stored page is a checkpoint: an interrupted run (kill -9, power loss, SIGTERM)
//! resumes after its last stored page and ends as it would have without the interruption.
//!
//! It owns the order of work, paging, concurrency, retries and checkpoints, for one account
//! ([`sync`]) and for many ([`accounts`], configured by [`config`]), and reports progress
//! ([`progress`]). It drives the engine, credentials and store; it may not format output
//! for the command line or parse its arguments.

#![deny(missing_docs)]

pub mod accounts;
pub mod config;
pub mod directory;
mod interfaces;
mod options;
mod paging;
pub mod progress;
mod retry;
mod run;

pub use interfaces::{SyncStore, TypeSyncer};
pub use options::{
    AUTO_RESUME_WITHIN, MAX_ITEMS_PER_PAGE, MAX_PAGES, MAX_TOKEN_BYTES, SyncOptions,
};
pub use ramsync_model::{TypeReport, api_line, plugin_error_line};
pub use retry::{backoff, describe, error_line};
pub use run::{SyncReport, sync, sync_types};
