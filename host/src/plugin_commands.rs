//! `ramsync plugins list|verify|export|add` and `ramsync run-plugin`: inspecting, pinning
//! and shipping plugin artifacts, and a local runner for plugin authors.

use crate::credentials::Credential;
use crate::engine::{
    Auth, CallContext, Entitlement, Grant, Limits, Plugins, Resource, ResourceRef, Syncer,
};
use crate::http_policy::Endpoints;
use crate::manifest::{Capabilities, Entry, Kind, MANIFEST_FILE, Manifest, Verified};
use crate::mock::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, MockOptions, MockServer};
use crate::sts::CredentialSource;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// One plugin as `plugins list --json` prints it.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    version: &'a str,
    kind: Kind,
    resource_types: &'a [String],
    wit_version: &'a str,
    sha256: &'a str,
    capabilities: &'a Capabilities,
}

/// The verified plugins of a directory (or the built-in ones), and the refusals.
fn inspect(dir: Option<&Path>) -> Result<(Vec<Verified>, Vec<String>)> {
    match dir {
        None => Ok((crate::manifest::builtin()?, Vec::new())),
        Some(d) => {
            let r = crate::manifest::read_dir(d)?;
            Ok((r.verified, r.refused))
        }
    }
}

fn capabilities_text(c: &Capabilities) -> String {
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
        crate::cli::print_table(
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

fn resource_ref_json(r: &ResourceRef) -> Value {
    json!({ "type": r.resource_type, "id": r.id })
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn resource_json(r: &Resource) -> Value {
    json!({
        "ref": resource_ref_json(&r.ref_),
        "name": r.name,
        "display_name": r.display_name,
        "parent": r.parent.as_ref().map(resource_ref_json),
        "attributes": pairs_json(&r.attributes),
    })
}

fn entitlement_json(e: &Entitlement) -> Value {
    json!({
        "resource": resource_ref_json(&e.resource),
        "slug": e.slug,
        "display_name": e.display_name,
        "grantable_to": e.grantable_to,
    })
}

fn grant_json(g: &Grant) -> Value {
    json!({
        "resource": resource_ref_json(&g.resource),
        "entitlement": g.entitlement,
        "principal": resource_ref_json(&g.principal),
        "principal_name": g.principal_name,
        "attributes": pairs_json(&g.attributes),
    })
}

pub struct RunPlugin {
    pub wasm: PathBuf,
    pub resource_type: String,
    pub endpoints: Vec<(String, String)>,
    pub products: Vec<String>,
    /// Read actions beyond List*/Get* it may call, as its manifest entry would name them.
    pub actions: Vec<String>,
    pub max_resources: usize,
}

/// Runs one syncer's list, entitlements and grants, printing each page as a JSON line
/// with the API calls it made. Without endpoints, against the local API's sample tenant.
pub async fn run_plugin(args: RunPlugin) -> Result<ExitCode> {
    let wasm = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    eprintln!(
        "running {} (sha256 {}) as a local plugin author's build; it is not checked against a manifest",
        args.wasm.display(),
        crate::manifest::sha256_hex(&wasm)
    );
    let limits = Limits::default();
    let builtins = Plugins::builtin(limits).await?;
    let capabilities = Capabilities {
        products: args.products.clone(),
        provisions: false,
        actions: args.actions.clone(),
        provision_actions: Vec::new(),
    };
    let name = args
        .wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let syncer = Syncer::load(&builtins.engine, &name, &wasm, limits, &capabilities).await?;
    if syncer.info.id != args.resource_type {
        bail!(
            "{} syncs resource type {:?}, not {:?}",
            args.wasm.display(),
            syncer.info.id,
            args.resource_type
        );
    }
    let (server, endpoints, source) = if args.endpoints.is_empty() {
        let server = MockServer::start("127.0.0.1:0", MockOptions::sample()?).await?;
        let endpoints = Endpoints::all_at(&server.url())?;
        eprintln!(
            "against the local Alibaba Cloud API at {} (sample tenant)",
            server.url()
        );
        let credential = Credential::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, None);
        (Some(server), endpoints, CredentialSource::Fixed(credential))
    } else {
        let mut endpoints = Endpoints::default();
        for (p, u) in &args.endpoints {
            endpoints.set(p, u)?;
        }
        (None, endpoints, crate::credentials::default_chain(None)?)
    };
    let auth = Arc::new(Auth {
        signer: builtins.signer.clone(),
        source,
    });
    let quiet = CallContext::new(endpoints.clone(), Some(auth.clone()), limits);
    let mut ctx = CallContext::new(endpoints, Some(auth), limits);
    let log = Arc::new(Mutex::new(Vec::new()));
    ctx.actions = Some(log.clone());
    let calls = || std::mem::take(&mut *log.lock().unwrap());
    let fail = |what: &str, e: crate::engine::CallError| -> anyhow::Error {
        anyhow::anyhow!("{what} failed: {}", crate::scheduler::error_line(&e))
    };

    // Parents, or the resources an enricher adds to, come from the built-in syncers.
    let context_type = if syncer.info.enriches {
        Some(syncer.info.id.clone())
    } else {
        syncer.info.parent_type.clone()
    };
    let mut context = Vec::new();
    if let Some(t) = &context_type {
        let Some(lister) = builtins
            .syncers
            .iter()
            .find(|s| &s.info.id == t && !s.info.enriches)
        else {
            bail!("no built-in syncer lists {t:?}, which this plugin needs");
        };
        let mut token = None;
        loop {
            let page = lister
                .list_resources(&quiet, None, token.as_deref())
                .await
                .map_err(|e| fail("listing the context resources", e))?;
            context.extend(page.items);
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    let parents: Vec<Option<&Resource>> = match &syncer.info.parent_type {
        Some(_) => context.iter().map(Some).collect(),
        None => vec![None],
    };
    let mut listed = Vec::new();
    for parent in parents {
        let mut token: Option<String> = None;
        loop {
            let page = syncer
                .list_resources(&ctx, parent, token.as_deref())
                .await
                .map_err(|e| fail("list-resources", e))?;
            println!(
                "{}",
                json!({
                    "call": "list-resources",
                    "parent": parent.map(|p| resource_ref_json(&p.ref_)),
                    "page_token": token,
                    "items": page.items.iter().map(resource_json).collect::<Vec<_>>(),
                    "next_page_token": page.next_page_token,
                    "api_calls": calls(),
                })
            );
            listed.extend(page.items);
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    if !syncer.info.skip_entitlements_and_grants {
        let targets = if syncer.info.enriches {
            &context
        } else {
            &listed
        };
        for resource in targets.iter().take(args.max_resources) {
            for call in ["entitlements", "grants"] {
                let mut token: Option<String> = None;
                loop {
                    let (items, next, attributes) = if call == "entitlements" {
                        let p = syncer
                            .entitlements(&ctx, resource, token.as_deref())
                            .await
                            .map_err(|e| fail(call, e))?;
                        let items: Vec<Value> = p.items.iter().map(entitlement_json).collect();
                        (items, p.next_page_token, None)
                    } else {
                        let p = syncer
                            .grants(&ctx, resource, token.as_deref())
                            .await
                            .map_err(|e| fail(call, e))?;
                        let items: Vec<Value> = p.items.iter().map(grant_json).collect();
                        (
                            items,
                            p.next_page_token,
                            Some(pairs_json(&p.resource_attributes)),
                        )
                    };
                    let mut line = json!({
                        "call": call,
                        "resource": resource_ref_json(&resource.ref_),
                        "page_token": token,
                        "items": items,
                        "next_page_token": next,
                        "api_calls": calls(),
                    });
                    if let Some(a) = attributes {
                        line["resource_attributes"] = a;
                    }
                    println!("{line}");
                    match next {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
        }
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}
