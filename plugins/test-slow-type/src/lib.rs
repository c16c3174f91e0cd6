//! A syncer whose `resource-type` waits on a host clock far past any deadline: waiting is
//! not CPU time, so only the host's wall-clock timeout on loading stops it. Never shipped.

use ramsync_guest::{
    EntitlementPage, Error, GrantPage, Resource, ResourcePage, TypeInfo, no_entitlements, no_grants,
};

struct SlowType;

impl ramsync_guest::Syncer for SlowType {
    fn resource_type() -> TypeInfo {
        std::thread::sleep(std::time::Duration::from_secs(600));
        TypeInfo {
            id: "slow".into(),
            display_name: "Slow".into(),
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
        Ok(ResourcePage {
            items: Vec::new(),
            next_page_token: None,
        })
    }

    fn entitlements(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        Ok(no_entitlements())
    }

    fn grants(_resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        Ok(no_grants())
    }
}

ramsync_guest::no_provisioning!(SlowType);
ramsync_guest::bindings::export_syncer!(SlowType);
