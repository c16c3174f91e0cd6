//! Syncer plugin for `role`s: RAM ListRoles, with an `assume` entitlement whose grants come
//! from each role's trust policy (RAM GetRole, `AssumeRolePolicyDocument`). A trust policy
//! that cannot be read is reported on the role and does not fail the sync.

use ramsync_guest::{
    Entitlement, EntitlementPage, Error, Grant, GrantPage, Product, Resource, ResourcePage, Rpc,
    TypeInfo, attribute, resource_ref,
};
use ramsync_policy_doc::Kind;

/// RAM ListRoles accepts MaxItems up to 1000.
const PAGE_SIZE: u32 = 1000;

struct Roles;

impl ramsync_guest::Syncer for Roles {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "role".into(),
            display_name: "Role".into(),
            parent_type: None,
            skip_entitlements_and_grants: false,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
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
        resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        Ok(EntitlementPage {
            items: vec![Entitlement {
                display_name: format!("Assume {}", resource.name),
                resource: resource.ref_,
                slug: "assume".into(),
                grantable_to: ["user", "role", "account", "service", "identity-provider"]
                    .map(String::from)
                    .to_vec(),
            }],
            next_page_token: None,
        })
    }

    fn grants(resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        let rpc = Rpc::new(Product::RAM)?;
        let body = rpc.call("GetRole", &[("RoleName", &resource.name)])?;
        let role = body.root().object("Role")?;
        let document = role.str("AssumeRolePolicyDocument")?;
        // The role's own account, from its ARN `acs:ram::<account>:role/<name>`.
        let arn = role
            .opt_str("Arn")?
            .or(attribute(&resource, "arn"))
            .unwrap_or_default();
        let own_account = arn
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split(':').next())
            .unwrap_or_default();
        let trust = match ramsync_policy_doc::analyze_trust(document, own_account) {
            Ok(trust) => trust,
            Err(problem) => {
                return Ok(GrantPage {
                    items: Vec::new(),
                    next_page_token: None,
                    resource_attributes: vec![("trust_policy_error".into(), problem)],
                });
            }
        };
        let mut items = Vec::new();
        for t in &trust.trusted {
            // Users and roles of this account are matched to synced resources by name.
            let principal_id = match t.kind {
                Kind::User | Kind::Role if !t.cross_account => String::new(),
                Kind::User | Kind::Role | Kind::IdentityProvider => t.principal.clone(),
                Kind::Account | Kind::Service => t.name.clone(),
            };
            let mut attributes = vec![
                ("trust_principal".to_string(), t.principal.clone()),
                ("cross_account".to_string(), t.cross_account.to_string()),
                (
                    "external_id_required".to_string(),
                    t.conditions.external_id_required.to_string(),
                ),
                (
                    "mfa_required".to_string(),
                    t.conditions.mfa_required.to_string(),
                ),
            ];
            if !t.conditions.source_ip.is_empty() {
                attributes.push(("source_ip".into(), t.conditions.source_ip.join(",")));
            }
            if !t.conditions.keys.is_empty() {
                attributes.push(("condition_keys".into(), t.conditions.keys.join(",")));
            }
            if t.conditionally_denied {
                attributes.push(("conditional_deny".into(), "true".into()));
            }
            items.push(Grant {
                resource: resource.ref_.clone(),
                entitlement: "assume".into(),
                principal: resource_ref(t.kind.as_str(), &principal_id),
                principal_name: if t.kind == Kind::Account || t.cross_account {
                    t.principal.clone()
                } else {
                    t.name.clone()
                },
                attributes,
            });
        }
        // The document itself is not kept: it may hold an ExternalId value.
        let mut resource_attributes = Vec::new();
        if !trust.denied.is_empty() {
            resource_attributes.push(("trust_policy_denies".into(), trust.denied.join(",")));
        }
        Ok(GrantPage {
            items,
            next_page_token: None,
            resource_attributes,
        })
    }
}

ramsync_guest::no_provisioning!(Roles);
ramsync_guest::bindings::export_syncer!(Roles);
