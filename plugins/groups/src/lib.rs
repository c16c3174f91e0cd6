//! Syncer plugin for `group`s: IMS ListGroups, and a `member` entitlement whose grants
//! come from IMS ListUsersForGroup.

use ramsync_guest::{
    Change, Entitlement, EntitlementPage, Error, Grant, GrantPage, Mutation, Product, Resource,
    ResourcePage, Rpc, TypeInfo, login_name, resource_ref,
};

/// IMS ListGroups and ListUsersForGroup accept MaxItems up to 100.
const PAGE_SIZE: u32 = 100;

struct Groups;

impl ramsync_guest::Syncer for Groups {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "group".into(),
            display_name: "Group".into(),
            parent_type: None,
            skip_entitlements_and_grants: false,
            provisions: vec!["member".into()],
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let page = rpc.page("ListGroups", &[], PAGE_SIZE, page_token.as_deref())?;
        let mut items = Vec::new();
        for group in page.body.root().list("Groups", "Group")? {
            let name = group.str("GroupName")?;
            items.push(Resource {
                ref_: resource_ref("group", group.str("GroupId")?),
                name: name.to_string(),
                display_name: group
                    .opt_str("DisplayName")?
                    .filter(|d| !d.is_empty())
                    .unwrap_or(name)
                    .to_string(),
                parent: None,
                attributes: group.attributes(&[
                    ("Comments", "comments"),
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
        resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        Ok(EntitlementPage {
            items: vec![Entitlement {
                display_name: format!("Member of {}", resource.name),
                resource: resource.ref_,
                slug: "member".into(),
                grantable_to: vec!["user".into()],
            }],
            next_page_token: None,
        })
    }

    fn grants(resource: Resource, page_token: Option<String>) -> Result<GrantPage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let page = rpc.page(
            "ListUsersForGroup",
            &[("GroupName", &resource.name)],
            PAGE_SIZE,
            page_token.as_deref(),
        )?;
        let mut items = Vec::new();
        for user in page.body.root().list("Users", "User")? {
            items.push(Grant {
                resource: resource.ref_.clone(),
                entitlement: "member".into(),
                principal: resource_ref("user", user.str("UserId")?),
                principal_name: user.str("UserPrincipalName")?.to_string(),
                attributes: user.attributes(&[("JoinDate", "join_date")])?,
            });
        }
        Ok(GrantPage {
            items,
            next_page_token: page.next_marker,
            resource_attributes: Vec::new(),
        })
    }
}

/// RAM AddUserToGroup / RemoveUserFromGroup, for the `member` entitlement.
fn membership(
    resource: &Resource,
    entitlement: &str,
    principal: &Resource,
    action: &str,
) -> Result<Mutation, Error> {
    if entitlement != "member" {
        return Err(Error::InvalidInput(format!(
            "a group offers only the member entitlement, not {entitlement:?}"
        )));
    }
    if principal.ref_.resource_type != "user" {
        return Err(Error::InvalidInput(format!(
            "only users can be group members, not a {}",
            principal.ref_.resource_type
        )));
    }
    Ok(Mutation {
        product: Product::RAM,
        action: action.to_string(),
        parameters: vec![
            ("GroupName", resource.name.clone()),
            ("UserName", login_name(&principal.name).to_string()),
        ],
    })
}

impl ramsync_guest::Provisioner for Groups {
    fn grant(
        resource: Resource,
        entitlement: String,
        principal: Resource,
        dry_run: bool,
    ) -> Result<Change, Error> {
        membership(&resource, &entitlement, &principal, "AddUserToGroup")?.run(
            dry_run,
            &format!("added {} to group {}", principal.name, resource.name),
            &format!(
                "{} is already a member of group {}",
                principal.name, resource.name
            ),
            None,
        )
    }

    fn revoke(
        resource: Resource,
        entitlement: String,
        principal: Resource,
        dry_run: bool,
    ) -> Result<Change, Error> {
        membership(&resource, &entitlement, &principal, "RemoveUserFromGroup")?.run(
            dry_run,
            &format!("removed {} from group {}", principal.name, resource.name),
            &format!(
                "{} is not a member of group {}",
                principal.name, resource.name
            ),
            Some("EntityNotExist.User.Group"),
        )
    }
}

ramsync_guest::bindings::export_syncer!(Groups);
