//! Syncer plugin for `role`s: RAM ListRoles.

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, ResourceRef, Rpc, TypeInfo, no_entitlements, no_grants,
    resource_ref,
};

/// RAM ListRoles accepts MaxItems up to 1000.
const PAGE_SIZE: u32 = 1000;

struct Roles;

impl ramsync_guest::Syncer for Roles {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "role".into(),
            display_name: "Role".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
        }
    }

    fn list_resources(
        _parent: Option<ResourceRef>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::RAM)?;
        let page = rpc.page("ListRoles", &[], PAGE_SIZE, page_token.as_deref())?;
        let mut items = Vec::new();
        for role in page.body.root().list("Roles", "Role")? {
            let name = role.str("RoleName")?;
            items.push(Resource {
                ref_: resource_ref("role", role.str("RoleId")?),
                name: name.to_string(),
                display_name: name.to_string(),
                parent: None,
                attributes: role.attributes(&[
                    ("Arn", "arn"),
                    ("Description", "description"),
                    ("MaxSessionDuration", "max_session_duration"),
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

ramsync_guest::bindings::export_syncer!(Roles);
