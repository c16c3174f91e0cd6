//! Syncer plugin for `policy`s: RAM ListPolicies, System and Custom alike (no `PolicyType`
//! filter), with an `attached` entitlement whose grants come from RAM ListEntitiesForPolicy.
//! That call is made only for policies whose `AttachmentCount` is above 0: most of the
//! thousand-plus System policies are attached nowhere. Attached policies, System and Custom,
//! are also read (RAM GetPolicy) for their default version's document.

use ramsync_guest::{
    Change, Entitlement, EntitlementPage, Error, Grant, GrantPage, Mutation, Product, Resource,
    ResourcePage, ResourceRef, Rpc, TypeInfo, attribute, login_name, no_grants, resource_ref,
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
            skip_entitlements_and_grants: false,
            provisions: vec!["attached".into()],
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
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
            policy.opt_i64("AttachmentCount")?;
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
        resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        Ok(EntitlementPage {
            items: vec![Entitlement {
                display_name: format!("Attached {}", resource.name),
                resource: resource.ref_,
                slug: "attached".into(),
                grantable_to: vec!["user".into(), "group".into(), "role".into()],
            }],
            next_page_token: None,
        })
    }

    fn grants(resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        // Unknown counts are asked about rather than assumed to be zero.
        if attribute(&resource, "attachment_count") == Some("0") {
            return Ok(no_grants());
        }
        let policy_type = attribute(&resource, "policy_type")
            .unwrap_or("Custom")
            .to_string();
        let rpc = Rpc::new(Product::RAM)?;
        let body = rpc.call(
            "ListEntitiesForPolicy",
            &[("PolicyName", &resource.name), ("PolicyType", &policy_type)],
        )?;
        let root = body.root();
        let mut items = Vec::new();
        let mut grant = |principal: ResourceRef, name: &str, attach_date: Option<&str>| {
            items.push(Grant {
                resource: resource.ref_.clone(),
                entitlement: "attached".into(),
                principal,
                principal_name: name.to_string(),
                attributes: attach_date
                    .map(|d| vec![("attach_date".to_string(), d.to_string())])
                    .unwrap_or_default(),
            });
        };
        for user in root.list("Users", "User")? {
            grant(
                resource_ref("user", user.str("UserId")?),
                user.str("UserName")?,
                user.opt_str("AttachDate")?,
            );
        }
        // ListEntitiesForPolicy gives no GroupId: the host matches the group by name.
        for group in root.list("Groups", "Group")? {
            grant(
                resource_ref("group", ""),
                group.str("GroupName")?,
                group.opt_str("AttachDate")?,
            );
        }
        for role in root.list("Roles", "Role")? {
            grant(
                resource_ref("role", role.str("RoleId")?),
                role.str("RoleName")?,
                role.opt_str("AttachDate")?,
            );
        }
        // The default version's document, for action-level questions, and whether it
        // allows everything, as AdministratorAccess does. Unattached policies cost nothing.
        let policy = rpc.call(
            "GetPolicy",
            &[("PolicyName", &resource.name), ("PolicyType", &policy_type)],
        )?;
        let version = policy.root().object("DefaultPolicyVersion")?;
        let document = version.str("PolicyDocument")?;
        let mut resource_attributes = vec![(
            "policy_document".to_string(),
            ramsync_policy_doc::without_external_ids(document),
        )];
        if let Some(id) = version.opt_str("VersionId")? {
            resource_attributes.push(("policy_document_version".to_string(), id.to_string()));
        }
        match ramsync_policy_doc::allows_everything(document) {
            Ok(all) => resource_attributes.push(("allows_everything".to_string(), all.to_string())),
            Err(problem) => {
                resource_attributes.push(("policy_document_error".to_string(), problem))
            }
        }
        Ok(GrantPage {
            items,
            next_page_token: None,
            resource_attributes,
        })
    }
}

/// RAM AttachPolicyTo{User,Group,Role} / DetachPolicyFrom{User,Group,Role}, for the
/// `attached` entitlement. Returns the call and the code RAM gives when it is not attached.
fn attachment(
    resource: &Resource,
    entitlement: &str,
    principal: &Resource,
    attach: bool,
) -> Result<(Mutation, String), Error> {
    if entitlement != "attached" {
        return Err(Error::InvalidInput(format!(
            "a policy offers only the attached entitlement, not {entitlement:?}"
        )));
    }
    let (kind, key, name) = match principal.ref_.resource_type.as_str() {
        "user" => ("User", "UserName", login_name(&principal.name).to_string()),
        "group" => ("Group", "GroupName", principal.name.clone()),
        "role" => ("Role", "RoleName", principal.name.clone()),
        other => {
            return Err(Error::InvalidInput(format!(
                "policies attach to users, groups and roles, not a {other}"
            )));
        }
    };
    let action = if attach {
        format!("AttachPolicyTo{kind}")
    } else {
        format!("DetachPolicyFrom{kind}")
    };
    let policy_type = attribute(resource, "policy_type")
        .unwrap_or("Custom")
        .to_string();
    let mutation = Mutation {
        product: Product::RAM,
        action,
        parameters: vec![
            ("PolicyType", policy_type),
            ("PolicyName", resource.name.clone()),
            (key, name),
        ],
    };
    Ok((mutation, format!("EntityNotExist.{kind}.Policy")))
}

impl ramsync_guest::Provisioner for Policies {
    fn grant(
        resource: Resource,
        entitlement: String,
        principal: Resource,
        dry_run: bool,
    ) -> Result<Change, Error> {
        let (call, _) = attachment(&resource, &entitlement, &principal, true)?;
        call.run(
            dry_run,
            &format!(
                "attached policy {} to {} {}",
                resource.name, principal.ref_.resource_type, principal.name
            ),
            &format!(
                "policy {} is already attached to {} {}",
                resource.name, principal.ref_.resource_type, principal.name
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
        let (call, absent) = attachment(&resource, &entitlement, &principal, false)?;
        call.run(
            dry_run,
            &format!(
                "detached policy {} from {} {}",
                resource.name, principal.ref_.resource_type, principal.name
            ),
            &format!(
                "policy {} is not attached to {} {}",
                resource.name, principal.ref_.resource_type, principal.name
            ),
            Some(&absent),
        )
    }
}

ramsync_guest::bindings::export_syncer!(Policies);
