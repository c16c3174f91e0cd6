//! Syncer plugin for `access-key`s, nested under users: RAM ListAccessKeys with the user's
//! login name (the part of the UserPrincipalName before `@`).
//!
//! Each key is a resource whose id and name are its AccessKey id, with its status
//! (`active` or `inactive`, lowercased like a user's status) and creation date. The API
//! never returns a secret (only CreateAccessKey does, once), and this plugin copies only
//! the fields it names, so no secret can reach the store.
//!
//! When the user came with the credential report (`credential_report_access_keys`, from the
//! `credential-report` syncer), a user the report lists with no AccessKey costs no call, and
//! each key gets `last_used_date` (or `never_used`) from the report's entry with the same
//! creation time. An active key the report does not cover gets them in the grants phase
//! (which grants nothing), from IMS GetAccessKeyLastUsed, one call per key so that a
//! throttled call is retried alone; without permission for that, they stay unknown. Each
//! key also carries `user_principal_name`, its user's, which that call needs.

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, Rpc, TypeInfo, attribute, login_name, no_entitlements,
    no_grants, resource_ref,
};
use serde_json::Value;

/// A key as the credential report lists it: (creation time, last use).
type ReportedKey = (String, Option<String>);

struct AccessKeys;

impl ramsync_guest::Syncer for AccessKeys {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "access-key".into(),
            display_name: "AccessKey".into(),
            parent_type: Some("user".into()),
            skip_entitlements_and_grants: false,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    /// ListAccessKeys does not page: a user has at most two keys.
    fn list_resources(
        parent: Option<Resource>,
        _page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let user = match parent {
            Some(p) if p.ref_.resource_type == "user" && !p.name.is_empty() => p,
            Some(p) => {
                return Err(Error::InvalidInput(format!(
                    "AccessKeys are listed per user, not per {} {:?}",
                    p.ref_.resource_type, p.name
                )));
            }
            None => {
                return Err(Error::InvalidInput(
                    "AccessKeys are listed per user; no user was given".into(),
                ));
            }
        };
        let reported = reported_keys(&user);
        if reported.as_ref().is_some_and(Vec::is_empty) {
            return Ok(ResourcePage {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let body = Rpc::new(Product::RAM)?
            .call("ListAccessKeys", &[("UserName", login_name(&user.name))])?;
        let mut items = Vec::new();
        for key in body.root().list("AccessKeys", "AccessKey")? {
            let id = key.str("AccessKeyId")?;
            if id.is_empty() {
                return Err(body.bad(format!("an AccessKey of {} has no id", user.name)));
            }
            let status = match key.str("Status")? {
                "Active" | "active" => "active",
                "Inactive" | "inactive" => "inactive",
                other => {
                    return Err(body.bad(format!(
                        "AccessKey {id} of {} has unknown Status {other:?}",
                        user.name
                    )));
                }
            };
            let mut attributes = vec![("status".to_string(), status.to_string())];
            attributes.extend(key.attributes(&[("CreateDate", "create_date")])?);
            attributes.push(("user_principal_name".into(), user.name.clone()));
            let created = key.opt_str("CreateDate")?.unwrap_or_default();
            match reported.as_deref().and_then(|r| match_key(r, created)) {
                Some(Some(date)) => attributes.push(("last_used_date".into(), date)),
                Some(None) => attributes.push(("never_used".into(), "true".into())),
                None => {}
            }
            items.push(Resource {
                ref_: resource_ref("access-key", id),
                name: id.to_string(),
                display_name: format!("{id} ({})", user.name),
                parent: Some(user.ref_.clone()),
                attributes,
            });
        }
        Ok(ResourcePage {
            items,
            next_page_token: None,
        })
    }

    fn entitlements(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<ramsync_guest::EntitlementPage, Error> {
        Ok(no_entitlements())
    }

    /// No grants: the last use of an active key the credential report did not cover.
    fn grants(
        resource: Resource,
        _page_token: Option<String>,
    ) -> Result<ramsync_guest::GrantPage, Error> {
        let known = ["last_used_date", "never_used"]
            .iter()
            .any(|k| attribute(&resource, k).is_some());
        let (Some("active"), Some(user), false) = (
            attribute(&resource, "status"),
            attribute(&resource, "user_principal_name"),
            known,
        ) else {
            return Ok(no_grants());
        };
        let mut page = no_grants();
        match last_used(user, &resource.ref_.id)? {
            Some(Some(date)) => page
                .resource_attributes
                .push(("last_used_date".into(), date)),
            Some(None) => page
                .resource_attributes
                .push(("never_used".into(), "true".into())),
            None => {}
        }
        Ok(page)
    }
}

/// The user's keys as the credential report lists them; None when the report did not
/// cover the user.
fn reported_keys(user: &Resource) -> Option<Vec<ReportedKey>> {
    let text = attribute(user, "credential_report_access_keys")?;
    let keys: Vec<Value> = serde_json::from_str(text).ok()?;
    keys.iter()
        .map(|k| {
            let created = k.get("created")?.as_str()?.to_string();
            let used = k
                .get("last_used")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((created, used))
        })
        .collect()
}

/// The last use of the one reported key created at `created`; None when no single key
/// matches, so the key is asked about on its own.
fn match_key(reported: &[ReportedKey], created: &str) -> Option<Option<String>> {
    let mut matching = reported.iter().filter(|(c, _)| c == created);
    match (matching.next(), matching.next()) {
        (Some((_, used)), None) => Some(used.clone()),
        _ => None,
    }
}

/// IMS GetAccessKeyLastUsed: Some(date), Some(None) when the key never signed anything, or
/// None when that cannot be known (no permission, or the key is gone).
fn last_used(user_principal_name: &str, key_id: &str) -> Result<Option<Option<String>>, Error> {
    let rpc = Rpc::new(Product::IMS)?;
    match rpc.call(
        "GetAccessKeyLastUsed",
        &[
            ("UserPrincipalName", user_principal_name),
            ("UserAccessKeyId", key_id),
        ],
    ) {
        Ok(body) => {
            let used = body.root().object("AccessKeyLastUsed")?;
            Ok(Some(
                used.opt_str("LastUsedDate")?
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            ))
        }
        Err(Error::Forbidden(_) | Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

ramsync_guest::no_provisioning!(AccessKeys);
ramsync_guest::bindings::export_syncer!(AccessKeys);
