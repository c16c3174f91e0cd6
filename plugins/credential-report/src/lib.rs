//! Enriching syncer plugin for `user`s: the IMS credential report, which tells in a few
//! calls what would otherwise take two calls per user.
//!
//! `list-resources` asks IMS GenerateCredentialReport for the report, polls it until it is
//! `COMPLETED` (for at most three minutes), then pages GetCredentialReport and returns, for each user
//! row, that user (matched by UserPrincipalName: the report has no UserId) with:
//!
//! - `credential_report_time`: the report's GeneratedTime; the report is Alibaba Cloud's
//!   snapshot of that moment, at most four hours old;
//! - `last_login_date`, `password_last_changed`, when the report has a date;
//! - `login_profile`: whether the user has a console password (a login profile), and
//!   `console_access`: whether it is active;
//! - `credential_report_access_keys`: the user's AccessKeys as the report lists them, a JSON
//!   list of `{"created", "active", "last_used"}` (`last_used` null when never used).
//!
//! The `mfa-and-login` and `access-keys` syncers read these to skip per-user calls whose
//! answer the report already gives. When the report cannot be had (no permission, or an
//! account of more than 3,500 users, for which Alibaba Cloud generates none) this plugin
//! lists nothing, and those syncers make their per-user calls as before.

use ramsync_guest::credential_report::{self, ReportState, flag, is_date};
use ramsync_guest::{
    EntitlementPage, Error, GrantPage, Product, Resource, ResourcePage, Rpc, TypeInfo,
    no_entitlements, no_grants, resource_ref,
};

/// Rows per GetCredentialReport page (the API takes 1 to 3,501).
const PAGE_SIZE: u32 = 1000;

const PAGE: &str = "page:";

struct CredentialReport;

impl ramsync_guest::Syncer for CredentialReport {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "user".into(),
            display_name: "User".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
            provisions: Vec::new(),
            enriches: true,
        }
    }

    /// One request a call, so that a throttled or failed request is retried alone and a
    /// renewed credential is used from the next call on: the page token says where the
    /// report stands (waiting for it, or `page:`).
    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let token = page_token.unwrap_or_default();
        if let Some(next) = token.strip_prefix(PAGE) {
            return report_page(&rpc, Some(next).filter(|t| !t.is_empty()));
        }
        Ok(match credential_report::poll(&rpc, &token)? {
            ReportState::Ready => nothing(Some(PAGE.to_string())),
            ReportState::Wait(next) => nothing(Some(next)),
            // Per-user calls take over, and the summary says so.
            ReportState::Unavailable => nothing(None),
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

fn nothing(next_page_token: Option<String>) -> ResourcePage {
    ResourcePage {
        items: Vec::new(),
        next_page_token,
    }
}

/// One page of the finished report, as user attributes.
fn report_page(rpc: &Rpc, next_token: Option<&str>) -> Result<ResourcePage, Error> {
    let Some(page) = credential_report::read_page(rpc, PAGE_SIZE, next_token)? else {
        return Ok(nothing(None));
    };
    let slots = credential_report::key_slots(&page.header);
    let user_column = page.column("user").unwrap_or(0);
    let mut items = Vec::new();
    for row in &page.rows {
        let field = |name: &str| {
            page.column(name)
                .and_then(|i| row.get(i))
                .map(String::as_str)
        };
        let user = row.get(user_column).map(String::as_str).unwrap_or_default();
        // The first row is the account itself, which is no RAM user.
        if user.is_empty() || user == "<root>" {
            continue;
        }
        let mut attributes = vec![("credential_report_time".to_string(), page.generated.clone())];
        for (column, name) in [
            ("user_last_logon", "last_login_date"),
            ("password_last_changed", "password_last_changed"),
        ] {
            if let Some(date) = field(column).filter(|v| is_date(v)) {
                attributes.push((name.to_string(), date.to_string()));
            }
        }
        if let Some(exists) = field("password_exist").and_then(flag) {
            let active = exists && field("password_active").and_then(flag).unwrap_or(false);
            attributes.push(("login_profile".into(), exists.to_string()));
            attributes.push(("console_access".into(), active.to_string()));
        }
        attributes.push((
            "credential_report_access_keys".into(),
            credential_report::access_keys(&slots, row).to_string(),
        ));
        items.push(Resource {
            // No UserId in the report: the host matches the user by name.
            ref_: resource_ref("user", ""),
            name: user.to_string(),
            display_name: user.to_string(),
            parent: None,
            attributes,
        });
    }
    Ok(ResourcePage {
        items,
        next_page_token: page.next_token.map(|t| format!("{PAGE}{t}")),
    })
}

ramsync_guest::no_provisioning!(CredentialReport);
ramsync_guest::bindings::export_syncer!(CredentialReport);
