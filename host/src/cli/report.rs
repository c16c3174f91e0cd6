//! `report`: one self-contained HTML file over the newest complete sync of an account: the
//! account and its settings, findings by severity with their evidence, every principal with
//! what it can reach and how (searchable), and who may assume which role.

use crate::store::Store;
use anyhow::{Context, Result};
use ramsync_queries::access::Access;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

/// The page: styles and script inline, the data in a JSON block; nothing is fetched.
const TEMPLATE: &str = include_str!("report.html");
const DATA_MARK: &str = "/*RAMSYNC_REPORT_DATA*/";

pub(crate) fn report(db: &Path, account: &str, out: &Path) -> Result<ExitCode> {
    let store = Store::open_for_queries(db)?;
    let data = data(&store, account)?;
    // Inside <script type="application/json">, `<` must not open a tag.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    let (head, tail) = TEMPLATE
        .split_once(DATA_MARK)
        .context("the report template has no data mark")?;
    let page = format!("{head}{json}{tail}");
    super::output::write_file(out, page.as_bytes())?;
    eprintln!(
        "wrote the report of account {account} to {} ({} bytes)",
        out.display(),
        page.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Interns path tails: a principal's paths are its own first step, then one of these.
#[derive(Default)]
struct Tails {
    index: HashMap<String, usize>,
    list: Vec<String>,
}

impl Tails {
    fn id(&mut self, tail: String) -> usize {
        if let Some(&i) = self.index.get(&tail) {
            return i;
        }
        self.list.push(tail.clone());
        self.index.insert(tail, self.list.len() - 1);
        self.list.len() - 1
    }
}

fn data(store: &Store, account: &str) -> Result<Value> {
    let run = store.readable_sync(account)?;
    let access = Access::new(store, account)?;
    let resources = store.query_resources(run.id, None)?;
    let findings = ramsync_queries::findings::findings(store, account)?;
    let (types, grant_counts) = store.counts(run.id)?;
    let names = ramsync_queries::directory::other_account_names(store, run.id)?;
    let own = resources.iter().find(|r| r.resource_type == "account");

    let mut tails = Tails::default();
    let mut principals = Vec::new();
    let keys_of: HashMap<&str, usize> = resources
        .iter()
        .filter(|r| r.resource_type == "access-key")
        .fold(HashMap::new(), |mut m, k| {
            if let Some(user) = k.parent_id.as_deref() {
                *m.entry(user).or_default() += 1;
            }
            m
        });
    // Paths through a trust in the whole account are every user's: kept once.
    let mut account_wide: Vec<usize> = Vec::new();
    if let (Some(first), Some(own)) = (resources.iter().find(|r| r.resource_type == "user"), own) {
        let me = format!("user:{}", first.name);
        let through = format!("account:{} -> ", own.id);
        for p in access.of_user(first, true)? {
            if let Some(tail) = p.line().strip_prefix(&format!("{me} -> "))
                && tail.starts_with(&through)
            {
                account_wide.push(tails.id(tail.to_string()));
            }
        }
    }
    for user in resources.iter().filter(|r| r.resource_type == "user") {
        let me = format!("user:{}", user.name);
        let reach: Vec<usize> = access
            .of_user(user, false)?
            .iter()
            .filter_map(|p| {
                let line = p.line();
                let tail = line.strip_prefix(&format!("{me} -> "))?.to_string();
                Some(tails.id(tail))
            })
            .collect();
        let a = &user.attributes;
        principals.push(json!({
            "t": "user",
            "n": user.name,
            "d": user.display_name,
            "s": user.status,
            "mfa": a.get("mfa_enabled"),
            "console": a.get("console_access"),
            "last_login": a.get("last_login_date"),
            "keys": keys_of.get(user.id.as_str()).copied().unwrap_or(0),
            "r": reach,
        }));
    }
    // Groups and roles: what is attached to them, their members and who may assume them.
    let mut trusts = Vec::new();
    for kind in ["group", "role"] {
        for r in resources.iter().filter(|r| r.resource_type == kind) {
            // What it holds, and what is granted on it: both read through their indexes.
            let reach: Vec<usize> = store
                .grants_held_by(run.id, kind, &r.id)?
                .iter()
                .map(|g| tails.id(format!("{}:{}", g.resource_type, g.resource_name)))
                .collect();
            let granted = store.grants_on(run.id, kind, &r.id)?;
            let members = granted.len();
            for g in granted.iter().filter(|g| g.entitlement == "assume") {
                let flag = |k: &str| {
                    g.attributes
                        .get(k)
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                };
                let account_name = ramsync_queries::directory::principal_account_name(&names, g)
                    .map(|(name, path)| format!("{name} in {path}"));
                trusts.push(json!({
                    "role": r.name,
                    "t": g.principal_type,
                    "n": g.principal_name,
                    "id": g.principal_id,
                    "cross": g.cross_account.unwrap_or(false),
                    "account_name": account_name,
                    "external_id": flag("external_id_required"),
                    "mfa": flag("mfa_required"),
                    "source_ip": g.attributes.get("source_ip"),
                }));
            }
            principals.push(json!({
                "t": kind,
                "n": r.name,
                "d": r.display_name,
                "members": members,
                "r": reach,
            }));
        }
    }
    let settings = own.map(|a| {
        let parsed = |k: &str| {
            a.attributes
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        };
        json!({
            "password_policy": parsed("password_policy"),
            "root_mfa_active": a.attributes.get("root_mfa_active"),
            "root_access_keys": a.attributes.get("root_access_keys"),
            "root_credentials": a.attributes.get("root_credentials"),
        })
    });
    Ok(json!({
        "generated_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        "run_name": account,
        "account": own.map(|a| json!({
            "id": a.id,
            "name": a.name,
            "display_name": a.attributes.get("directory_display_name").cloned().unwrap_or(json!(a.display_name)),
            "folder_path": a.attributes.get("folder_path"),
        })),
        "sync": {
            "id": run.id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "api_calls": run.api_calls,
        },
        "counts": types,
        "grant_counts": grant_counts,
        "settings": settings,
        "findings": findings,
        "principals": principals,
        "tails": tails.list,
        "account_wide": account_wide,
        "trusts": trusts,
    }))
}
