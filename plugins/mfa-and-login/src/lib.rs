//! Enriching syncer plugin for `user`s: MFA devices and console logon settings.
//!
//! It lists no users of its own. `list-resources` reads IMS ListVirtualMFADevices and
//! returns, for each device bound to a user, that user's ref with `mfa_enabled` = `true`,
//! `mfa_device` (the serial number) and `mfa_activate_date`; the host merges these into the
//! users the users syncer stored and ignores devices of users it does not know. Then, for
//! each user (as stored, so with those attributes), `grants` calls IMS GetLoginProfile and
//! returns no grants but these resource attributes:
//!
//! - `console_access`: `true` when the user has a login profile whose status is not
//!   `Inactive`; `false` when console logon is disabled or there is no login profile
//!   (`EntityNotExist.User.LoginProfile`, which is how the API says "no console logon").
//! - `password_reset_required`, `mfa_bind_required`: from the login profile, when there is one.
//! - `mfa_enabled` = `false` for a user that got no `mfa_enabled` from the device list.
//!
//! A user the credential report lists without a login profile (`login_profile` = `false`,
//! from the `credential-report` syncer) costs no GetLoginProfile call. The report does not
//! carry `password_reset_required` or `mfa_bind_required`, so users with a login profile
//! are still asked about.

use ramsync_guest::{
    EntitlementPage, Error, GrantPage, Product, Resource, ResourcePage, Rpc, TypeInfo, attribute,
    no_entitlements, resource_ref,
};

/// IMS ListVirtualMFADevices accepts MaxItems up to 100.
const PAGE_SIZE: u32 = 100;

/// The error code of GetLoginProfile for a user without console logon.
const NO_LOGIN_PROFILE: &str = "EntityNotExist.User.LoginProfile";

struct MfaAndLogin;

impl ramsync_guest::Syncer for MfaAndLogin {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "user".into(),
            display_name: "User".into(),
            parent_type: None,
            skip_entitlements_and_grants: false,
            provisions: Vec::new(),
            enriches: true,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let page = rpc.page(
            "ListVirtualMFADevices",
            &[],
            PAGE_SIZE,
            page_token.as_deref(),
        )?;
        let mut items = Vec::new();
        for device in page
            .body
            .root()
            .list("VirtualMFADevices", "VirtualMFADevice")?
        {
            let serial = device.str("SerialNumber")?;
            // A device bound to nobody comes with an empty (or no) `User`.
            let Some(user) = device.opt_object("User")? else {
                continue;
            };
            let Some(user_id) = user.opt_str("UserId")?.filter(|id| !id.is_empty()) else {
                continue;
            };
            let name = user.opt_str("UserPrincipalName")?.unwrap_or_default();
            let mut attributes = vec![
                ("mfa_enabled".to_string(), "true".to_string()),
                ("mfa_device".to_string(), serial.to_string()),
            ];
            attributes.extend(device.attributes(&[("ActivateDate", "mfa_activate_date")])?);
            items.push(Resource {
                ref_: resource_ref("user", user_id),
                name: name.to_string(),
                display_name: user.opt_str("DisplayName")?.unwrap_or(name).to_string(),
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
    ) -> Result<EntitlementPage, Error> {
        Ok(no_entitlements())
    }

    fn grants(resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        if resource.name.is_empty() {
            return Err(Error::InvalidInput(format!(
                "user {} has no UserPrincipalName to ask GetLoginProfile about",
                resource.ref_.id
            )));
        }
        let rpc = Rpc::new(Product::IMS)?;
        let mut attributes: Vec<(String, String)> = Vec::new();
        let flag = |k: &str, v: bool| (k.to_string(), v.to_string());
        // None when the credential report already said the user has no login profile.
        let asked = match attribute(&resource, "login_profile") {
            Some("false") => None,
            _ => Some(rpc.call("GetLoginProfile", &[("UserPrincipalName", &resource.name)])),
        };
        match asked {
            Some(Ok(body)) => {
                let profile = body.root().object("LoginProfile")?;
                let enabled = !profile
                    .opt_str("Status")?
                    .is_some_and(|s| s.eq_ignore_ascii_case("Inactive"));
                attributes.push(flag("console_access", enabled));
                for (field, name) in [
                    ("PasswordResetRequired", "password_reset_required"),
                    ("MFABindRequired", "mfa_bind_required"),
                ] {
                    if let Some(v) = profile.opt_bool(field)? {
                        attributes.push(flag(name, v));
                    }
                }
            }
            // No login profile: the user cannot log on to the console. A bare 404 without
            // a code means the same; any other missing entity is a real error.
            None => attributes.push(flag("console_access", false)),
            Some(Err(Error::NotFound(e))) if e.code == NO_LOGIN_PROFILE || e.code.is_empty() => {
                attributes.push(flag("console_access", false));
            }
            Some(Err(e)) => return Err(e),
        }
        if attribute(&resource, "mfa_enabled").is_none() {
            attributes.push(flag("mfa_enabled", false));
        }
        Ok(GrantPage {
            items: Vec::new(),
            next_page_token: None,
            resource_attributes: attributes,
        })
    }
}

ramsync_guest::no_provisioning!(MfaAndLogin);
ramsync_guest::bindings::export_syncer!(MfaAndLogin);
