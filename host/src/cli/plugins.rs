//! `ramsync plugins list|verify|export|add`: inspecting, pinning and shipping plugin artifacts.

use crate::engine::{Limits, Plugins, Syncer};
use crate::manifest::{Capabilities, Entry, Kind, MANIFEST_FILE, Manifest, Verified};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::ExitCode;

/// One plugin as `plugins list --json` prints it.
#[derive(serde::Serialize)]
pub(crate) struct Listed<'a> {
    name: &'a str,
    version: &'a str,
    kind: Kind,
    resource_types: &'a [String],
    wit_version: &'a str,
    sha256: &'a str,
    capabilities: &'a Capabilities,
}

/// The verified plugins of a directory (or the built-in ones), and the refusals.
pub(crate) fn inspect(dir: Option<&Path>) -> Result<(Vec<Verified>, Vec<String>)> {
    match dir {
        None => Ok((crate::manifest::builtin()?, Vec::new())),
        Some(d) => {
            let r = crate::manifest::read_dir(d)?;
            Ok((r.verified, r.refused))
        }
    }
}

pub(crate) fn capabilities_text(c: &Capabilities) -> String {
    let mut parts = Vec::new();
    parts.push(if c.products.is_empty() {
        "no http".to_string()
    } else {
        c.products.join("+")
    });
    if !c.actions.is_empty() {
        parts.push(format!("reads {}", c.actions.join("+")));
    }
    if c.provisions {
        parts.push(if c.provision_actions.is_empty() {
            "provisions (no write actions)".to_string()
        } else {
            format!("provisions {}", c.provision_actions.join("+"))
        });
    }
    parts.join(", ")
}

pub fn list(dir: Option<&Path>, json: bool) -> Result<ExitCode> {
    let (verified, refused) = inspect(dir)?;
    if json {
        let rows: Vec<Listed> = verified
            .iter()
            .map(|v| Listed {
                name: &v.entry.name,
                version: &v.entry.version,
                kind: v.entry.kind,
                resource_types: &v.entry.resource_types,
                wit_version: &v.entry.wit_version,
                sha256: &v.entry.sha256,
                capabilities: &v.entry.capabilities,
            })
            .collect();
        for row in rows {
            println!("{}", serde_json::to_string(&row)?);
        }
    } else {
        let rows = verified
            .iter()
            .map(|v| {
                let e = &v.entry;
                vec![
                    e.name.clone(),
                    e.version.clone(),
                    e.kind.to_string(),
                    if e.resource_types.is_empty() {
                        "-".into()
                    } else {
                        e.resource_types.join(",")
                    },
                    e.wit_version.clone(),
                    e.sha256.clone(),
                    capabilities_text(&e.capabilities),
                ]
            })
            .collect();
        super::output::print_table(
            &[
                "NAME",
                "VERSION",
                "KIND",
                "RESOURCE TYPES",
                "WIT",
                "SHA256",
                "CAPABILITIES",
            ],
            rows,
        );
    }
    for r in &refused {
        eprintln!("error: {r}");
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks digests, manifest entries and WIT versions, then compiles and links every plugin
/// exactly as a sync would, so an ungranted import is caught here too.
pub async fn verify(dir: Option<&Path>) -> Result<ExitCode> {
    let (verified, refused) = inspect(dir)?;
    for v in &verified {
        println!(
            "ok: {} {} ({}) sha256 {}",
            v.entry.kind, v.entry.name, v.entry.file, v.entry.sha256
        );
    }
    for r in &refused {
        eprintln!("error: {r}");
    }
    if !refused.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    match Plugins::load(dir, Limits::default()).await {
        Ok(p) => {
            println!(
                "all {} plugins verified and loaded ({} syncers, WIT {})",
                verified.len(),
                p.syncers.len(),
                crate::manifest::WIT_VERSION
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Writes the built-in plugins and their manifest to `dir`.
pub fn export(dir: &Path) -> Result<ExitCode> {
    let set = crate::manifest::builtin()?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    for v in &set {
        let path = dir.join(&v.entry.file);
        std::fs::write(&path, &v.wasm)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let manifest = Manifest {
        format: 1,
        plugins: set.iter().map(|v| v.entry.clone()).collect(),
    };
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, manifest.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} plugins and {} to {}",
        set.len(),
        MANIFEST_FILE,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Copies a syncer into `dir` and writes its manifest entry: the resource type and
/// provisioning are read from the plugin itself, the WIT version from its exports.
pub async fn add(
    dir: &Path,
    wasm_path: &Path,
    capabilities: Capabilities,
    version: &str,
) -> Result<ExitCode> {
    let products = &capabilities.products.clone();
    let wasm =
        std::fs::read(wasm_path).with_context(|| format!("cannot read {}", wasm_path.display()))?;
    let file = wasm_path
        .file_name()
        .and_then(|f| f.to_str())
        .filter(|f| f.ends_with(".wasm"))
        .with_context(|| format!("{} is not a .wasm file", wasm_path.display()))?
        .to_string();
    let name = file.trim_end_matches(".wasm").to_string();
    for p in products {
        if !crate::http_policy::PRODUCTS.iter().any(|(k, _)| k == p) {
            bail!("unknown product {p:?}; expected ram, ims or sts");
        }
    }
    for action in capabilities
        .actions
        .iter()
        .chain(&capabilities.provision_actions)
    {
        crate::action_policy::check_entry(action).map_err(anyhow::Error::msg)?;
    }
    if !capabilities.provision_actions.is_empty() && !capabilities.provisions {
        bail!("--provision-actions needs --provisions");
    }
    let engine = crate::engine::new_engine()?;
    let syncer = Syncer::load(&engine, &name, &wasm, Limits::default(), &capabilities).await?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Manifest::parse(&text, &manifest_path.display().to_string())?,
        Err(_) => Manifest {
            format: 1,
            plugins: Vec::new(),
        },
    };
    let entry = Entry {
        name: name.clone(),
        file: file.clone(),
        version: version.to_string(),
        kind: Kind::Syncer,
        resource_types: vec![syncer.info.id.clone()],
        wit_version: syncer.wit_version.clone(),
        sha256: crate::manifest::sha256_hex(&wasm),
        capabilities,
    };
    match manifest.plugins.iter_mut().find(|e| e.name == name) {
        Some(existing) => *existing = entry,
        None => manifest.plugins.push(entry),
    }
    std::fs::create_dir_all(dir)?;
    let dest = dir.join(&file);
    if std::fs::canonicalize(wasm_path).ok() != std::fs::canonicalize(&dest).ok() {
        std::fs::write(&dest, &wasm).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    std::fs::write(&manifest_path, manifest.to_json())?;
    println!(
        "added {name} (syncs {}, products {}) to {}",
        syncer.info.id,
        if products.is_empty() {
            "none".into()
        } else {
            products.join(",")
        },
        manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
