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

use base64::Engine;
use ramsync_guest::{
    EntitlementPage, Error, GrantPage, Product, Resource, ResourcePage, Rpc, TypeInfo,
    no_entitlements, no_grants, resource_ref,
};
use serde_json::{Value, json};
use std::time::Duration;

/// Rows per GetCredentialReport page (the API takes 1 to 3,501).
const PAGE_SIZE: u32 = 1000;
/// The first wait between polls; each wait doubles up to `POLL_MAX`.
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(2);
/// How long generation may take in all before the report is given up on.
const GIVE_UP_AFTER: Duration = Duration::from_secs(180);

const WAITING: &str = "waiting:";
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
    /// report stands (`waiting:` with the time waited and the polls so far, or `page:`).
    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        let rpc = Rpc::new(Product::IMS)?;
        let token = page_token.unwrap_or_default();
        let foreign = || Error::InvalidInput(format!("page token {token:?} is not this plugin's"));
        if let Some(next) = token.strip_prefix(PAGE) {
            return report_page(&rpc, Some(next).filter(|t| !t.is_empty()));
        }
        let (waited, polls) = match token.strip_prefix(WAITING) {
            None if token.is_empty() => (Duration::ZERO, 0),
            None => return Err(foreign()),
            Some(rest) => {
                let (ms, n) = rest.split_once(':').ok_or_else(foreign)?;
                let ms: u64 = ms.parse().map_err(|_| foreign())?;
                let n: u32 = n.parse().map_err(|_| foreign())?;
                // Wait before asking again: 250 ms, doubling up to 2 s.
                let pause = POLL_FIRST.saturating_mul(1 << n.min(8)).min(POLL_MAX);
                std::thread::sleep(pause);
                (Duration::from_millis(ms) + pause, n + 1)
            }
        };
        Ok(match generate(&rpc)? {
            Generation::Completed => nothing(Some(PAGE.to_string())),
            // Given up on after a while: per-user calls take over, and the summary says so.
            Generation::Running if waited < GIVE_UP_AFTER => {
                nothing(Some(format!("{WAITING}{}:{polls}", waited.as_millis())))
            }
            Generation::Running | Generation::Unavailable => nothing(None),
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

enum Generation {
    Running,
    Completed,
    Unavailable,
}

/// One GenerateCredentialReport call. A refusal means no report (the fallback takes over);
/// throttling, server errors and a rejected credential go to the host as usual.
fn generate(rpc: &Rpc) -> Result<Generation, Error> {
    let body = match rpc.call("GenerateCredentialReport", &[]) {
        Ok(body) => body,
        Err(
            Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::Conflict(_)
            | Error::BadResponse(_)
            | Error::InvalidInput(_),
        ) => return Ok(Generation::Unavailable),
        Err(e) => return Err(e),
    };
    Ok(match body.root().str("State")? {
        "COMPLETED" | "COMPLETE" => Generation::Completed,
        "STARTED" | "INPROGRESS" => Generation::Running,
        other => return Err(body.bad(format!("unknown credential report State {other:?}"))),
    })
}

fn nothing(next_page_token: Option<String>) -> ResourcePage {
    ResourcePage {
        items: Vec::new(),
        next_page_token,
    }
}

/// One page of the finished report, as user attributes.
fn report_page(rpc: &Rpc, next_token: Option<&str>) -> Result<ResourcePage, Error> {
    let max = PAGE_SIZE.to_string();
    let mut params = vec![("MaxItems", max.as_str())];
    if let Some(t) = next_token {
        params.push(("NextToken", t));
    }
    let body = match rpc.call("GetCredentialReport", &params) {
        Ok(body) => body,
        // Allowed to generate but not to read it: no report, as when generation is refused.
        Err(Error::Forbidden(_)) if next_token.is_none() => return Ok(nothing(None)),
        Err(e) => return Err(e),
    };
    let root = body.root();
    let generated = root.str("GeneratedTime")?.to_string();
    let content = base64::engine::general_purpose::STANDARD
        .decode(root.str("Content")?.trim())
        .map_err(|e| body.bad(format!("Content is not base64: {e}")))?;
    let mut items = Vec::new();
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(content.as_slice());
    let header: Vec<String> = csv
        .headers()
        .map_err(|e| body.bad(format!("the report's CSV header is unreadable: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let user_column =
        column("user").ok_or_else(|| body.bad("the report has no `user` column".to_string()))?;
    let slots = key_slots(&header);
    for (n, row) in csv.records().enumerate() {
        let row = row.map_err(|e| body.bad(format!("row {} of the report: {e}", n + 1)))?;
        let field = |name: &str| column(name).and_then(|i| row.get(i)).map(str::trim);
        let user = row.get(user_column).unwrap_or_default().trim();
        // The first row is the account itself, which is no RAM user.
        if user.is_empty() || user == "<root>" {
            continue;
        }
        let mut attributes = vec![("credential_report_time".to_string(), generated.clone())];
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
        let mut keys = Vec::new();
        for slot in &slots {
            let at = |i: Option<usize>| i.and_then(|i| row.get(i)).map(str::trim);
            if at(slot.exist).and_then(flag) != Some(true) {
                continue;
            }
            let last_used = at(slot.last_used).filter(|v| is_date(v));
            keys.push(json!({
                "created": at(slot.last_rotated).filter(|v| is_date(v)),
                "active": at(slot.active).and_then(flag),
                "last_used": last_used,
            }));
        }
        attributes.push((
            "credential_report_access_keys".into(),
            Value::Array(keys).to_string(),
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
    let truncated = root.opt_bool("IsTruncated")?.unwrap_or(false);
    let next = match truncated {
        false => None,
        true => {
            let t = root.str("NextToken")?;
            if t.is_empty() || Some(t) == next_token {
                return Err(body.bad("IsTruncated is true but NextToken is empty or repeated"));
            }
            Some(format!("{PAGE}{t}"))
        }
    };
    Ok(ResourcePage {
        items,
        next_page_token: next,
    })
}

/// The columns of one AccessKey slot: `access_key_N_*` and `additional_access_key_N_*`.
struct Slot {
    exist: Option<usize>,
    active: Option<usize>,
    last_rotated: Option<usize>,
    last_used: Option<usize>,
}

fn key_slots(header: &[String]) -> Vec<Slot> {
    let mut prefixes: Vec<&str> = Vec::new();
    for h in header {
        if let Some(prefix) = h.strip_suffix("_exist")
            && prefix.contains("access_key_")
            && !prefixes.contains(&prefix)
        {
            prefixes.push(prefix);
        }
    }
    prefixes
        .into_iter()
        .map(|p| {
            let at = |suffix: &str| header.iter().position(|h| *h == format!("{p}_{suffix}"));
            Slot {
                exist: at("exist"),
                active: at("active"),
                last_rotated: at("last_rotated"),
                last_used: at("last_used"),
            }
        })
        .collect()
}

/// `TRUE`/`FALSE`; None for `N/A` and anything else.
fn flag(v: &str) -> Option<bool> {
    match v.to_ascii_uppercase().as_str() {
        "TRUE" => Some(true),
        "FALSE" => Some(false),
        _ => None,
    }
}

/// An ISO 8601 time such as `2019-11-11T12:33:18Z`, as opposed to `-` or `N/A`.
fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[..4].iter().all(u8::is_ascii_digit)
}

ramsync_guest::no_provisioning!(CredentialReport);
ramsync_guest::bindings::export_syncer!(CredentialReport);
