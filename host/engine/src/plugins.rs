//! The plugin set of one run: the signer and the syncers, loaded from the binary or a
//! verified plugin directory, in an order the scheduler can run.

use crate::runtime::{Runtime, new_runtime};
use crate::sandbox::Limits;
use crate::signer::Signer;
use crate::syncer::Syncer;
use anyhow::{Context, Result};
use std::sync::Arc;

/// The signer and syncers of one run, compiled once.
pub struct Plugins {
    /// The runtime they were compiled for.
    pub engine: Runtime,
    /// The one signer.
    pub signer: Arc<Signer>,
    /// The syncers, in the order they run.
    pub syncers: Vec<Arc<Syncer>>,
    /// The limits every call is held to.
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
