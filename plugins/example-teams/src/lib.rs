//! The authoring guide's example: the engineering teams among the IMS groups (names
//! ending in -eng, -ops or -oncall) as resources of type `team`, each offering a `member`
//! entitlement granted to the users in it.

use ramsync_guest::{
    Entitlement, EntitlementPage, Error, Grant, GrantPage, Product, Resource, ResourcePage, Rpc,
    TypeInfo, resource_ref,
};

struct Teams;

impl ramsync_guest::Syncer for Teams {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "team".into(),
            display_name: "Team".into(),
            parent_type: None,
            skip_entitlements_and_grants: false,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let page = Rpc::new(Product::IMS)?.page("ListGroups", &[], 100, token.as_deref())?;
        let mut items = Vec::new();
        for group in page.body.root().list("Groups", "Group")? {
            let (name, comments) = (group.str("GroupName")?, group.opt_str("Comments")?);
            if ["-eng", "-ops", "-oncall"]
                .iter()
                .any(|s| name.ends_with(s))
            {
                items.push(Resource {
                    ref_: resource_ref("team", group.str("GroupId")?),
                    name: name.into(),
                    display_name: group.opt_str("DisplayName")?.unwrap_or(name).into(),
                    parent: None,
                    attributes: vec![("comments".into(), comments.unwrap_or("").into())],
                });
            }
        }
        Ok(ResourcePage {
            items,
            next_page_token: page.next_marker,
        })
    }

    fn entitlements(team: Resource, _token: Option<String>) -> Result<EntitlementPage, Error> {
        let member = Entitlement {
            display_name: format!("Member of team {}", team.name),
            resource: team.ref_,
            slug: "member".into(),
            grantable_to: vec!["user".into()],
        };
        Ok(EntitlementPage {
            items: vec![member],
            next_page_token: None,
        })
    }

    fn grants(team: Resource, token: Option<String>) -> Result<GrantPage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let page = rpc.page(
            "ListUsersForGroup",
            &[("GroupName", &team.name)],
            100,
            token.as_deref(),
        )?;
        let mut items = Vec::new();
        for user in page.body.root().list("Users", "User")? {
            items.push(Grant {
                resource: team.ref_.clone(),
                entitlement: "member".into(),
                principal: resource_ref("user", user.str("UserId")?),
                principal_name: user.str("UserPrincipalName")?.into(),
                attributes: Vec::new(),
            });
        }
        Ok(GrantPage {
            items,
            next_page_token: page.next_marker,
            resource_attributes: Vec::new(),
        })
    }
}

ramsync_guest::no_provisioning!(Teams);
ramsync_guest::bindings::export_syncer!(Teams);
