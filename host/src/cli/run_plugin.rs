//! `ramsync run-plugin`: the local runner for plugin authors.

use crate::credentials::Credential;
use crate::engine::{
    Auth, CallContext, Entitlement, Grant, Limits, Plugins, Resource, ResourceRef, Syncer,
};
use crate::http_policy::Endpoints;
use crate::manifest::Capabilities;
use crate::mock::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, MockOptions, MockServer};
use crate::sts::CredentialSource;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

pub(crate) fn resource_ref_json(r: &ResourceRef) -> Value {
    json!({ "type": r.resource_type, "id": r.id })
}

pub(crate) fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

pub(crate) fn resource_json(r: &Resource) -> Value {
    json!({
        "ref": resource_ref_json(&r.ref_),
        "name": r.name,
        "display_name": r.display_name,
        "parent": r.parent.as_ref().map(resource_ref_json),
        "attributes": pairs_json(&r.attributes),
    })
}

pub(crate) fn entitlement_json(e: &Entitlement) -> Value {
    json!({
        "resource": resource_ref_json(&e.resource),
        "slug": e.slug,
        "display_name": e.display_name,
        "grantable_to": e.grantable_to,
    })
}

pub(crate) fn grant_json(g: &Grant) -> Value {
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
        actions: args.actions.clone(),
        ..Default::default()
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
