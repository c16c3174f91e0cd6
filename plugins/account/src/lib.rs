//! Syncer plugin for the `account`: its id from STS GetCallerIdentity, its alias from RAM GetAccountAlias.

use ramsync_guest::{
    Error, Product, Resource, ResourcePage, Rpc, TypeInfo, no_entitlements, no_grants, resource_ref,
};

struct Account;

impl ramsync_guest::Syncer for Account {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "account".into(),
            display_name: "Account".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        _page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let identity = Rpc::new(Product::STS)?.call("GetCallerIdentity", &[])?;
        let account_id = identity.root().str("AccountId")?.to_string();
        if account_id.is_empty() {
            return Err(identity.bad("AccountId is empty"));
        }
        let alias_response = Rpc::new(Product::RAM)?.call("GetAccountAlias", &[])?;
        let alias = alias_response.root().str("AccountAlias")?.to_string();
        let mut attributes = identity.root().attributes(&[
            ("Arn", "caller_arn"),
            ("IdentityType", "caller_identity_type"),
        ])?;
        attributes.push(("alias".into(), alias.clone()));
        let name = if alias.is_empty() {
            account_id.clone()
        } else {
            alias
        };
        Ok(ResourcePage {
            items: vec![Resource {
                ref_: resource_ref("account", &account_id),
                display_name: name.clone(),
                name,
                parent: None,
                attributes,
            }],
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

ramsync_guest::no_provisioning!(Account);
ramsync_guest::bindings::export_syncer!(Account);
