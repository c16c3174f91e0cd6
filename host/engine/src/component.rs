//! Compiling a component (through the cache) and checking which WIT version it was built
//! against.

use anyhow::Result;
use wasmtime::component::Component;

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
