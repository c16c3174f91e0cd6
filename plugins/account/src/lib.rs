//! Syncer plugin for the `account`: its id from STS GetCallerIdentity, its alias from RAM
//! GetAccountAlias, and the settings auditors check:
//!
//! - `password_policy`: IMS GetPasswordPolicy's `PasswordPolicy`, as JSON;
//! - `security_preference`: IMS GetSecurityPreference's `SecurityPreference`, as JSON;
//! - `root_access_keys` (a JSON list of `{"created", "active", "last_used"}`) and
//!   `root_mfa_active`, from the credential report's `<root>` row, with
//!   `credential_report_time`. A RAM identity cannot list the root identity's AccessKeys
//!   otherwise; without a report (refused, or more than 3,500 users) they are left out and
//!   `root_credentials` says why.
//!
//! A setting this identity may not read is recorded as `<setting>_error` and the account is
//! still listed. The report is waited for with page tokens, as the credential-report
//! syncer does; Alibaba Cloud builds one report for both.

use ramsync_guest::credential_report::{self, ReportState, flag};
use ramsync_guest::{
    Error, Product, Resource, ResourcePage, Rpc, TypeInfo, no_entitlements, no_grants, resource_ref,
};

struct Account;

const STEP: &str = "step:";

/// What the listing has read so far, carried in the page token.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    report: bool,
    attributes: Vec<(String, String)>,
}

/// The page token of step `n`. The host takes tokens of at most 4,096 bytes: should the
/// answers read so far not fit, the largest is dropped and says so.
fn step(n: u8, state: &mut State) -> String {
    const MAX: usize = 3_800;
    loop {
        let token = format!(
            "{STEP}{n}:{}",
            serde_json::to_string(&*state).unwrap_or_default()
        );
        if token.len() <= MAX {
            return token;
        }
        let Some(largest) =
            (0..state.attributes.len()).max_by_key(|&i| state.attributes[i].1.len())
        else {
            return token;
        };
        let (name, value) = state.attributes.remove(largest);
        state.attributes.push((
            format!("{name}_error"),
            format!(
                "not kept: {} bytes, more than ramsync carries between calls",
                value.len()
            ),
        ));
    }
}

fn nothing(next: String) -> ResourcePage {
    ResourcePage {
        items: Vec::new(),
        next_page_token: Some(next),
    }
}

/// The account resource, from the attributes read.
fn account(mut attributes: Vec<(String, String)>) -> Result<ResourcePage, Error> {
    let take = |attributes: &mut Vec<(String, String)>, key: &str| {
        attributes
            .iter()
            .position(|(k, _)| k == key)
            .map(|i| attributes.remove(i).1)
            .unwrap_or_default()
    };
    let account_id = take(&mut attributes, "account_id");
    let alias = attributes
        .iter()
        .find(|(k, _)| k == "alias")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
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

    /// One request a call, so that a throttled request is retried alone: the page token
    /// says where the listing stands (waiting for the report, or step N with the
    /// attributes read so far, a few hundred bytes of JSON).
    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let token = page_token.unwrap_or_default();
        let ims = Rpc::new(Product::IMS)?;
        let Some(rest) = token.strip_prefix(STEP) else {
            let report = match credential_report::poll(&ims, &token)? {
                ReportState::Wait(next) => return Ok(nothing(next)),
                ReportState::Ready => true,
                ReportState::Unavailable => false,
            };
            return Ok(nothing(step(
                1,
                &mut State {
                    report,
                    attributes: Vec::new(),
                },
            )));
        };
        let (n, state) = rest
            .split_once(':')
            .and_then(|(n, json)| {
                Some((
                    n.parse::<u8>().ok()?,
                    serde_json::from_str::<State>(json).ok()?,
                ))
            })
            .ok_or_else(|| {
                Error::InvalidInput(format!("page token {token:?} is not this plugin's"))
            })?;
        let mut state = state;
        match n {
            1 => {
                let identity = Rpc::new(Product::STS)?.call("GetCallerIdentity", &[])?;
                let account_id = identity.root().str("AccountId")?.to_string();
                if account_id.is_empty() {
                    return Err(identity.bad("AccountId is empty"));
                }
                state.attributes.push(("account_id".into(), account_id));
                state.attributes.extend(identity.root().attributes(&[
                    ("Arn", "caller_arn"),
                    ("IdentityType", "caller_identity_type"),
                ])?);
            }
            2 => {
                let alias = Rpc::new(Product::RAM)?.call("GetAccountAlias", &[])?;
                let alias = alias.root().str("AccountAlias")?.to_string();
                state.attributes.push(("alias".into(), alias));
            }
            3 | 4 => {
                let (action, field, name) = match n {
                    3 => ("GetPasswordPolicy", "PasswordPolicy", "password_policy"),
                    _ => (
                        "GetSecurityPreference",
                        "SecurityPreference",
                        "security_preference",
                    ),
                };
                match ims.call(action, &[]) {
                    Ok(body) => state
                        .attributes
                        .push((name.into(), body.root().object(field)?.to_json())),
                    Err(Error::Forbidden(e)) => state.attributes.push((
                        format!("{name}_error"),
                        format!(
                            "{action} refused: {} {}",
                            e.code,
                            e.message.chars().take(300).collect::<String>()
                        ),
                    )),
                    Err(e) => return Err(e),
                }
            }
            5 => {
                let mut attributes = std::mem::take(&mut state.attributes);
                attributes.extend(root_credentials(&ims, state.report)?);
                return account(attributes);
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "page token {token:?} is not this plugin's"
                )));
            }
        }
        Ok(nothing(step(n + 1, &mut state)))
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

/// The root identity's AccessKeys and MFA from the report's first row.
fn root_credentials(ims: &Rpc, report: bool) -> Result<Vec<(String, String)>, Error> {
    let unknown = |why: &str| Ok(vec![("root_credentials".to_string(), why.to_string())]);
    if !report {
        return unknown("unknown: no credential report");
    }
    let Some(page) = credential_report::read_page(ims, 1, None)? else {
        return unknown("unknown: the credential report could not be read");
    };
    let user = page.column("user").unwrap_or(0);
    let Some(row) = page
        .rows
        .iter()
        .find(|r| r.get(user).is_some_and(|u| u == "<root>"))
    else {
        return unknown("unknown: the credential report has no <root> row");
    };
    let slots = credential_report::key_slots(&page.header);
    let mut attributes = vec![
        ("credential_report_time".to_string(), page.generated.clone()),
        (
            "root_access_keys".to_string(),
            credential_report::access_keys(&slots, row).to_string(),
        ),
    ];
    if let Some(mfa) = page
        .column("mfa_active")
        .and_then(|i| row.get(i))
        .and_then(|v| flag(v))
    {
        attributes.push(("root_mfa_active".into(), mfa.to_string()));
    }
    Ok(attributes)
}

ramsync_guest::no_provisioning!(Account);
ramsync_guest::bindings::export_syncer!(Account);
