//! The plugin engine: wasmtime, loading and caching components, checking them against their
//! manifests, and running their calls in a sandbox. Components are compiled once per run
//! and instantiated through pre-instantiation, with a fresh store per call from the pooling
//! allocator. Each store has a memory cap, a share of the runtime's total memory and a CPU
//! budget counting guest time only ([`sandbox`]); each call also has a wall-clock timeout;
//! outbound HTTP goes through the allowlist ([`http_policy`]) and only what the host signed
//! for the call is sent ([`action_policy`]).
//!
//! It owns everything that touches wasmtime. It may not read the store, the config file or
//! the command line: the scheduler and the CLI hand it endpoints, credentials and limits.
//! It depends on the model and on credentials (whose STS calls it signs and sends, through
//! [`ramsync_credentials::sts::StsHost`]).

pub mod action_policy;
pub mod builtin;
pub mod component_cache;
mod convert;
pub mod http_policy;
pub mod manifest;
mod runtime;
pub mod sandbox;
mod signer;
mod syncer;

pub use ramsync_model::{
    ApiError, Change, Entitlement, EntitlementPage, Grant, GrantPage, HttpRequest, PluginError,
    Resource, ResourcePage, ResourceRef, Signature, TypeInfo,
};
pub use runtime::{Runtime, new_engine, new_runtime};
pub use signer::{Signer, SignerState};
pub use syncer::{Auth, CallContext, CallError, Syncer, SyncerState};

use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime_wasi::WasiCtx;

/// Host bindings generated from the WIT contract.
pub mod bindings {
    pub mod signer {
        wasmtime::component::bindgen!({
            world: "signer-plugin",
            path: "../../wit",
            exports: { default: async },
        });
    }
    pub mod syncer {
        wasmtime::component::bindgen!({
            world: "syncer-plugin",
            path: "../../wit",
            imports: { default: async | trappable },
            exports: { default: async },
            with: { "ramsync:connector/types": super::signer::ramsync::connector::types },
        });
    }
}

/// Syncer stores in flight at once in one runtime; more calls wait for a slot.
pub const SYNCER_SLOTS: usize = 64;
/// Signer stores in flight at once in one runtime. Separate from the syncers' slots, since
/// a syncer holds its slot while it waits for a signature.
pub const SIGNER_SLOTS: usize = 32;

/// Resource limits for every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory one store may grow to.
    pub memory_bytes: usize,
    /// Linear memory all stores of a runtime may hold together.
    pub total_memory_bytes: usize,
    /// Wall-clock time one call may take, HTTP included, waits for the rate limit excluded.
    pub call_timeout: Duration,
    /// Time a call may spend running wasm code; time in host calls (HTTP, signing, the
    /// rate limiter, clocks) does not count.
    pub cpu_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            total_memory_bytes: 2 << 30,
            call_timeout: Duration::from_secs(120),
            cpu_deadline: Duration::from_secs(30),
        }
    }
}

/// Adds context to a wasmtime error while turning it into an `anyhow::Error`.
pub(crate) fn wctx<T>(result: wasmtime::Result<T>, context: impl FnOnce() -> String) -> Result<T> {
    result.map_err(|e| anyhow::Error::from(e).context(context()))
}

pub(crate) fn compile(engine: &wasmtime::Engine, name: &str, wasm: &[u8]) -> Result<Component> {
    let cache = crate::component_cache::default_dir();
    let (component, cached) = wctx(
        crate::component_cache::load_or_compile(engine, wasm, cache.as_deref()),
        || format!("plugin {name}: not a valid component"),
    )?;
    tracing::debug!(plugin = name, cached, "plugin loaded");
    Ok(component)
}

/// A sandbox with no filesystem, environment, arguments, stdio or sockets.
pub(crate) fn bare_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// A one-line description of a trap, without the wasm backtrace.
pub(crate) fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => "ran past its CPU deadline".into(),
            other => format!("trapped: {other}"),
        };
    }
    let root = e.root_cause().to_string();
    if root.contains("memory") && (root.contains("limit") || root.contains("grow")) {
        return format!("hit its memory cap: {root}");
    }
    format!("failed: {e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The signer and syncers of one run, compiled once.
pub struct Plugins {
    pub engine: Runtime,
    pub signer: Arc<Signer>,
    pub syncers: Vec<Arc<Syncer>>,
    pub limits: Limits,
}

impl Plugins {
    /// Loads the plugins embedded in the binary.
    pub async fn builtin(limits: Limits) -> Result<Self> {
        Self::load(None, limits).await
    }

    /// Loads the built-in plugins, or with `dir` the verified plugins of that directory
    /// (see [`crate::manifest`]), in manifest order.
    pub async fn load(dir: Option<&std::path::Path>, limits: Limits) -> Result<Self> {
        let set = crate::manifest::load_set(dir)?;
        let origin = |file: &str| match dir {
            Some(d) => d.join(file).display().to_string(),
            None => format!("built-in {file}"),
        };
        let engine = new_runtime(&limits)?;
        let mut signers = set
            .iter()
            .filter(|p| p.entry.kind == crate::manifest::Kind::Signer);
        let (Some(signer), None) = (signers.next(), signers.next()) else {
            anyhow::bail!(
                "{}: a plugin set needs exactly one signer",
                dir.map(|d| d.display().to_string())
                    .unwrap_or_else(|| "the built-in plugins".into())
            );
        };
        let signer = Arc::new(
            Signer::load(&engine, &signer.entry.name, &signer.wasm, limits)
                .with_context(|| format!("{}: refused", origin(&signer.entry.file)))?,
        );
        let mut syncers = Vec::new();
        for p in set
            .iter()
            .filter(|p| p.entry.kind == crate::manifest::Kind::Syncer)
        {
            let syncer = Syncer::load(
                &engine,
                &p.entry.name,
                &p.wasm,
                limits,
                &p.entry.capabilities,
            )
            .await
            .with_context(|| format!("{}: refused", origin(&p.entry.file)))?;
            anyhow::ensure!(
                p.entry.resource_types.contains(&syncer.info.id),
                "{}: refused: it syncs {:?}, but its manifest entry declares {:?}",
                origin(&p.entry.file),
                syncer.info.id,
                p.entry.resource_types
            );
            syncers.push(Arc::new(syncer));
        }
        check_order(&syncers)?;
        Ok(Plugins {
            engine,
            signer,
            syncers,
            limits,
        })
    }
}

/// The WIT version a component was built against, from the names of its exports.
pub fn component_wit_version(engine: &wasmtime::Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| {
            name.strip_prefix("ramsync:connector/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, version)| version.to_string())
        })
}

/// The component's WIT version, when this host accepts it.
pub(crate) fn check_wit_version(
    engine: &wasmtime::Engine,
    name: &str,
    component: &Component,
) -> Result<String> {
    match component_wit_version(engine, component) {
        Some(v) if crate::manifest::accepts(&v) => Ok(v),
        Some(v) => anyhow::bail!(
            "plugin {name}: built against WIT {v}; this host accepts {}",
            crate::manifest::accepted_list()
        ),
        None => anyhow::bail!("plugin {name}: exports no ramsync:connector interface"),
    }
}

/// Syncers run in order, so a nested type's parent and an enriched type must be listed
/// by an earlier syncer, and no two syncers may list the same type.
pub fn check_order(syncers: &[Arc<Syncer>]) -> Result<()> {
    let mut listed: Vec<&str> = Vec::new();
    for s in syncers {
        let id = s.info.id.as_str();
        if let Some(parent) = &s.info.parent_type {
            anyhow::ensure!(
                listed.contains(&parent.as_str()),
                "plugin {}: its type {id} is nested under {parent}, which no earlier plugin lists",
                s.name
            );
        }
        if s.info.enriches {
            anyhow::ensure!(
                listed.contains(&id),
                "plugin {} enriches type {id}, which no earlier plugin lists",
                s.name
            );
        } else {
            anyhow::ensure!(
                !listed.contains(&id),
                "plugin {} lists type {id}, which an earlier plugin lists already",
                s.name
            );
            listed.push(id);
        }
    }
    Ok(())
}
