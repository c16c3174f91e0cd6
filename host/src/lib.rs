//! ramsync: syncs who can do what in Alibaba Cloud accounts into SQLite, through
//! sandboxed WebAssembly plugins.
//!
//! This crate is the command line ([`cli`]): it parses arguments, calls the layers below and
//! formats what they return. The layers are crates of their own, re-exported here under the
//! names the tests and benches use:
//! - [`scheduler`] (ramsync-scheduler): paging, concurrency, retries, checkpoints
//!   ([`accounts`]: many accounts per run; [`config`]: `ramsync.toml`; [`progress`])
//! - [`access`], [`permissions`], [`findings`], [`diff`] (ramsync-queries): reports over the store
//! - [`engine`] (ramsync-engine): wasmtime, plugin loading ([`manifest`], [`builtin`],
//!   [`component_cache`]), the [`sandbox`], the outbound [`http_policy`] and the
//!   [`action_policy`]
//! - [`store`] (ramsync-store): the SQLite store
//! - [`credentials`] and [`sts`] (ramsync-credentials): where credentials come from
//! - [`mock`] (ramsync-mock): the local Alibaba Cloud API
//!
//! It may not hold logic of its own beyond parsing and output: a computation belongs in the
//! layer that owns its data.

pub mod cli;
pub use ramsync_credentials as credentials;
pub use ramsync_credentials::sts;
pub use ramsync_engine as engine;
pub use ramsync_engine::{action_policy, builtin, component_cache, http_policy, manifest, sandbox};
pub use ramsync_mock as mock;
pub use ramsync_queries::{access, diff, findings, permissions};
pub use ramsync_scheduler as scheduler;
pub use ramsync_scheduler::{accounts, config, progress};
pub use ramsync_store as store;
