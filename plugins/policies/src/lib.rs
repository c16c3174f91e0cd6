//! Syncer plugin for `policy`s: RAM ListPolicies, System and Custom alike
//! (no `PolicyType` filter).

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, ResourceRef, Rpc, TypeInfo, no_entitlements, no_grants,
    resource_ref,
};

/// RAM ListPolicies accepts MaxItems up to 1000.
const PAGE_SIZE: u32 = 1000;

struct Policies;

impl ramsync_guest::Syncer for Policies {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "policy".into(),
            display_name: "Policy".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
        }
    }

    fn list_resources(
        _parent: Option<ResourceRef>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::RAM)?;
        let page = rpc.page("ListPolicies", &[], PAGE_SIZE, page_token.as_deref())?;
        let mut items = Vec::new();
        for policy in page.body.root().list("Policies", "Policy")? {
            let name = policy.str("PolicyName")?;
            let policy_type = policy.str("PolicyType")?;
            if policy_type != "System" && policy_type != "Custom" {
                return Err(page.body.bad(format!(
                    "policy {name} has unknown PolicyType {policy_type:?}"
                )));
            }
            // Policy names are unique only within their type.
            items.push(Resource {
                ref_: resource_ref("policy", &format!("{policy_type}:{name}")),
                name: name.to_string(),
                display_name: name.to_string(),
                parent: None,
                attributes: policy.attributes(&[
                    ("PolicyType", "policy_type"),
                    ("Description", "description"),
                    ("DefaultVersion", "default_version"),
                    ("AttachmentCount", "attachment_count"),
                    ("CreateDate", "create_date"),
                    ("UpdateDate", "update_date"),
                ])?,
            });
        }
        Ok(ResourcePage {
            items,
            next_page_token: page.next_marker,
        })
    }

    fn entitlements(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<ramsync_guest::EntitlementPage, Error> {
        Ok(no_entitlements())
    }

    fn grants(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<ramsync_guest::GrantPage, Error> {
        Ok(no_grants())
    }
}

ramsync_guest::bindings::export_syncer!(Policies);
