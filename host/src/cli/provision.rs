//! `grant` and `revoke`: one change of access, or with a dry run, the call it would make.

use crate::credentials::Credential;
use crate::engine::{Auth, CallContext, Limits, Plugins};
use crate::http_policy::Endpoints;
use crate::store::Store;
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use super::args::ProvisionArgs;

/// A resource for a provisioning call: from the synced store when there is one, else from its name.
pub(crate) fn provisioning_resource(
    store: Option<(&Store, i64)>,
    resource_type: &str,
    name: &str,
) -> Result<crate::engine::Resource> {
    use crate::engine::{Resource, ResourceRef};
    if let Some((store, sync)) = store {
        let Some(row) = store.find_resource(sync, resource_type, name)? else {
            bail!("no {resource_type} named {name:?} in sync run {sync}");
        };
        let attributes = row
            .attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        return Ok(Resource {
            ref_: ResourceRef {
                resource_type: row.resource_type,
                id: row.id,
            },
            name: row.name,
            display_name: row.display_name,
            parent: None,
            attributes,
        });
    }
    let (name, attributes) = match name.split_once(':') {
        Some((kind @ ("System" | "Custom"), rest)) if resource_type == "policy" => (
            rest.to_string(),
            vec![("policy_type".to_string(), kind.to_string())],
        ),
        _ => (name.to_string(), Vec::new()),
    };
    Ok(Resource {
        ref_: ResourceRef {
            resource_type: resource_type.into(),
            id: String::new(),
        },
        display_name: name.clone(),
        name,
        parent: None,
        attributes,
    })
}

pub(crate) async fn provision(revoke: bool, args: ProvisionArgs) -> Result<ExitCode> {
    let verb = if revoke { "revoke" } else { "grant" };
    let (resource_type, rest) = args.entitlement.split_once(':').unwrap_or(("", ""));
    let Some((resource_name, slug)) = rest
        .rsplit_once(':')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
    else {
        bail!(
            "--entitlement takes TYPE:NAME:ENTITLEMENT, for example group:admins:member; got {:?}",
            args.entitlement
        );
    };
    let Some((principal_type, principal_name)) = args
        .principal
        .split_once(':')
        .filter(|(t, n)| !t.is_empty() && !n.is_empty())
    else {
        bail!(
            "--principal takes TYPE:NAME, for example user:alice@corp.onaliyun.com; got {:?}",
            args.principal
        );
    };
    let mut endpoints = Endpoints::default();
    for (product, url) in &args.endpoints {
        endpoints.set(product, url)?;
    }
    let limits = Limits::default();
    let plugins = Plugins::load(args.plugin_dir.as_deref(), limits).await?;
    let provisionable: Vec<String> = plugins
        .syncers
        .iter()
        .flat_map(|s| {
            s.info
                .provisions
                .iter()
                .map(move |p| format!("{}:{p}", s.info.id))
        })
        .collect();
    let Some(syncer) = plugins
        .syncers
        .iter()
        .find(|s| s.info.id == resource_type && s.info.provisions.iter().any(|p| p == slug))
    else {
        bail!(
            "cannot {verb} {resource_type}:{slug}; ramsync can {verb} {}",
            provisionable.join(", ")
        );
    };
    let store = args.db.as_deref().map(Store::open_existing).transpose()?;
    let sync = match &store {
        Some(s) => Some((s, s.readable_sync(&args.account)?.id)),
        None => None,
    };
    let resource = provisioning_resource(sync, resource_type, resource_name)?;
    let principal = provisioning_resource(sync, principal_type, principal_name)?;
    // A dry run makes no call, so it needs no credentials and the plugin is given none.
    let credential = if args.yes {
        Some(Credential::from_env()?)
    } else {
        None
    };
    let auth =
        credential.map(|credential| Arc::new(Auth::fixed(plugins.signer.clone(), credential)));
    let ctx = CallContext::new(endpoints, auth, limits);
    let change = match syncer
        .provision(&ctx, revoke, &resource, slug, &principal, !args.yes)
        .await
    {
        Ok(change) => change,
        Err(crate::engine::CallError::Plugin(crate::engine::PluginError::Forbidden(a))) => bail!(
            "{verb} refused: permission missing for action ram:{}: {}",
            a.action,
            crate::scheduler::plugin_error_line(&crate::engine::PluginError::Forbidden(a.clone()))
        ),
        Err(crate::engine::CallError::Plugin(e)) => bail!(
            "{verb} refused: {}",
            crate::scheduler::plugin_error_line(&e)
        ),
        Err(e) => bail!("{verb} failed: {}", crate::scheduler::error_line(&e)),
    };
    let call = format!(
        "{} {}",
        change.action,
        change
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if args.json {
        let out = serde_json::json!({
            "dry_run": !args.yes,
            "call": change.action,
            "parameters": change.parameters.iter().cloned().collect::<BTreeMap<_, _>>(),
            "changed": change.changed,
            "message": change.message,
        });
        println!("{out}");
    } else if !args.yes {
        println!("would call: {call}");
        println!("nothing was changed; run again with --yes to make the change");
    } else if change.changed {
        println!("{} ({call})", change.message);
        println!("run `ramsync sync` to refresh the database");
    } else {
        println!("{}; nothing to do ({call})", change.message);
    }
    Ok(ExitCode::SUCCESS)
}
