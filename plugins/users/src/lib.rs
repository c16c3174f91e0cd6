//! Syncer plugin for `user`s: IMS ListUsers with `Status=active,freeze`.
//! Without that filter IMS returns active users only and frozen ones vanish silently.

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, Rpc, TypeInfo, no_entitlements, no_grants, resource_ref,
};

/// IMS ListUsers accepts MaxItems up to 1000.
const PAGE_SIZE: u32 = 1000;

struct Users;

impl ramsync_guest::Syncer for Users {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "user".into(),
            display_name: "User".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let page = rpc.page(
            "ListUsers",
            &[("Status", "active,freeze")],
            PAGE_SIZE,
            page_token.as_deref(),
        )?;
        let mut items = Vec::new();
        for user in page.body.root().list("Users", "User")? {
            let id = user.str("UserId")?;
            let upn = user.str("UserPrincipalName")?;
            let status = match user.str("Status")? {
                "active" | "Active" => "active",
                "freeze" | "frozen" | "Freeze" => "frozen",
                other => {
                    return Err(page
                        .body
                        .bad(format!("user {upn} has unknown Status {other:?}")));
                }
            };
            let mut attributes = user.attributes(&[
                ("Email", "email"),
                ("MobilePhone", "mobile_phone"),
                ("Comments", "comments"),
                ("CreateDate", "create_date"),
                ("UpdateDate", "update_date"),
                ("LastLoginDate", "last_login_date"),
                ("ProvisionType", "provision_type"),
            ])?;
            attributes.push(("status".into(), status.into()));
            items.push(Resource {
                ref_: resource_ref("user", id),
                name: upn.to_string(),
                display_name: user.opt_str("DisplayName")?.unwrap_or(upn).to_string(),
                parent: None,
                attributes,
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

ramsync_guest::no_provisioning!(Users);
ramsync_guest::bindings::export_syncer!(Users);
