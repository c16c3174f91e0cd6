//! The plugin engine: wasmtime, loading and caching components, checking them against their
//! manifests, and running their calls in a sandbox. Components are compiled once per run
//! and instantiated through pre-instantiation into stores from the pooling allocator; an
//! instance is kept for further calls only within one account's sync (a syncer) or for one
//! credential (the signer). Each store has a memory cap, a share of the runtime's total
//! memory, and each call a CPU budget counting guest time only ([`sandbox`]) and a
//! wall-clock timeout;
//! outbound HTTP goes through the allowlist ([`http_policy`]) and only what the host signed
//! for the call is sent ([`action_policy`]).
//!
//! It owns everything that touches wasmtime. It may not read the store, the config file or
//! the command line: the scheduler and the CLI hand it endpoints, credentials and limits.
//! It depends on the model and on credentials (whose STS calls it signs and sends, through
//! [`ramsync_credentials::sts::StsHost`]).

#![deny(missing_docs)]

pub mod action_policy;
pub mod bindings;
pub mod builtin;
mod component;
pub mod component_cache;
mod connections;
mod convert;
pub mod http_policy;
pub mod manifest;
mod plugins;
mod runtime;
pub mod sandbox;
mod signer;
mod syncer;
mod syncer_state;

pub use component::component_wit_version;
pub use plugins::{Plugins, check_order};
pub use ramsync_model::{
    ApiError, Change, Entitlement, EntitlementPage, Grant, GrantPage, HttpRequest, PluginError,
    Resource, ResourcePage, ResourceRef, Signature, TypeInfo,
};
pub use runtime::{Runtime, new_engine, new_runtime};
pub use sandbox::{Limits, SIGNER_SLOTS, SYNCER_SLOTS};
pub use signer::{Signer, SignerState};
pub use syncer::{Auth, CallContext, CallError, Syncer};
pub use syncer_state::SyncerState;
