//! ramsync: syncs who can do what in Alibaba Cloud accounts into SQLite, through
//! sandboxed WebAssembly plugins.
//!
//! The host is split by what it supplies:
//! - [`engine`]: the wasmtime engine, plugin loading, per-call stores and limits
//!   ([`manifest`]: plugins.json, digests and capabilities; [`builtin`]: the embedded
//!   plugins; [`component_cache`]: compiled components cached on disk)
//! - [`sandbox`]: CPU budgets counting guest time only, memory caps per store and in total
//! - [`http_policy`]: the outbound HTTP allowlist and timeouts ([`action_policy`]: which
//!   actions the host signs for a plugin, and that only what it signed is sent)
//! - [`credentials`]: where credentials come from; only the signer sees them
//!   ([`sts`]: AssumeRole, cached and refreshed)
//! - [`scheduler`]: paging, concurrency, retries and checkpoints
//!   ([`accounts`]: many accounts per run; [`config`]: `ramsync.toml`)
//! - [`store`]: the SQLite store
//! - [`cli`]: the command line ([`plugin_commands`]: `plugins …` and `run-plugin`)
//! - [`mock`]: the local Alibaba Cloud API
//!
//! Reports over the store: [`access`] (effective access), [`findings`], [`diff`].

pub mod cli;
pub use ramsync_credentials as credentials;
pub use ramsync_credentials::sts;
pub use ramsync_engine as engine;
pub use ramsync_engine::{action_policy, builtin, component_cache, http_policy, manifest, sandbox};
pub use ramsync_mock as mock;
pub use ramsync_queries::{access, diff, findings};
pub use ramsync_scheduler as scheduler;
pub use ramsync_scheduler::{accounts, config, progress};
pub use ramsync_store as store;
