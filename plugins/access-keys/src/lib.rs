//! Syncer plugin for `access-key`s, nested under users: RAM ListAccessKeys with the user's
//! login name (the part of the UserPrincipalName before `@`).
//!
//! Each key is a resource whose id and name are its AccessKey id, with its status
//! (`active` or `inactive`, lowercased like a user's status) and creation date. The API
//! never returns a secret (only CreateAccessKey does, once), and this plugin copies only
//! the fields it names, so no secret can reach the store.

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, Rpc, TypeInfo, login_name, no_entitlements, no_grants,
    resource_ref,
};

struct AccessKeys;

impl ramsync_guest::Syncer for AccessKeys {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "access-key".into(),
            display_name: "AccessKey".into(),
            parent_type: Some("user".into()),
            skip_entitlements_and_grants: true,
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

    fn grants(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<ramsync_guest::GrantPage, Error> {
        Ok(no_grants())
    }
}

ramsync_guest::no_provisioning!(AccessKeys);
ramsync_guest::bindings::export_syncer!(AccessKeys);
