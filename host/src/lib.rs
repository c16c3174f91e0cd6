//! ramsync: syncs who can do what in Alibaba Cloud accounts into SQLite, through
//! sandboxed WebAssembly plugins.
//!
//! The host is split by what it supplies:
//! - [`engine`]: the wasmtime engine, plugin loading, per-call stores and limits
//!   ([`manifest`]: plugins.json, digests and capabilities; [`builtin`]: the embedded
//!   plugins; [`component_cache`]: compiled components cached on disk)
//! - [`http_policy`]: the outbound HTTP allowlist and timeouts
//! - [`credentials`]: where credentials come from; only the signer sees them
//!   ([`sts`]: AssumeRole, cached and refreshed)
//! - [`scheduler`]: paging, concurrency, retries and checkpoints
//!   ([`accounts`]: many accounts per run; [`config`]: `ramsync.toml`)
//! - [`store`]: the SQLite store
//! - [`cli`]: the command line ([`plugin_commands`]: `plugins …` and `run-plugin`)
//! - [`mock`]: the local Alibaba Cloud API
//!
//! Reports over the store: [`access`] (effective access), [`findings`], [`diff`].

pub mod access;
pub mod accounts;
pub mod builtin;
pub mod cli;
pub mod component_cache;
pub mod config;
pub mod credentials;
pub mod diff;
pub mod engine;
pub mod findings;
pub mod http_policy;
pub mod manifest;
pub mod mock;
pub mod plugin_commands;
pub mod progress;
pub mod scheduler;
pub mod store;
pub mod sts;
