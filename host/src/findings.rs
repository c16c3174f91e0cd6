//! Findings: the risky facts an auditor looks for first, read from the newest complete sync.
//! Each has a stable code, a severity, the resource it is about and the evidence.

use crate::access::Access;
use crate::store::{ResourceRow, Store};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Sorting puts the most severe first.
    #[serde(skip)]
    pub rank: u8,
    pub severity: &'static str,
    pub code: &'static str,
    pub resource_type: String,
    pub resource_name: String,
    pub evidence: String,
}

fn finding(
    severity: &'static str,
    code: &'static str,
    r: (&str, &str),
    evidence: String,
) -> Finding {
    let rank = match severity {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    };
    Finding {
        rank,
        severity,
        code,
        resource_type: r.0.into(),
        resource_name: r.1.into(),
        evidence,
    }
}

fn flag(r: &ResourceRow, key: &str) -> bool {
    r.attributes
        .get(key)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

pub fn findings(store: &Store, account: &str) -> Result<Vec<Finding>> {
    let sync = store.readable_sync(account)?.id;
    let grants = store.query_grants(sync)?;
    let mut out = Vec::new();

    for g in grants
        .iter()
        .filter(|g| g.resource_type == "role" && g.entitlement == "assume")
    {
        let attr = |k: &str| {
            g.attributes
                .get(k)
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        };
        let role = ("role", g.resource_name.as_str());
        let who = g
            .attributes
            .get("trust_principal")
            .and_then(|v| v.as_str())
            .unwrap_or(&g.principal_name);
        if attr("cross_account") && !attr("external_id_required") && g.principal_type != "service" {
            out.push(finding(
                "high",
                "cross-account-trust-without-external-id",
                role,
                format!("trusts {who} of another account with no sts:ExternalId condition (confused-deputy risk)"),
            ));
        }
        if g.principal_type == "account" {
            let evidence = if g.principal_id == "*" {
                "trusts * : any identity of any account may assume it".to_string()
            } else {
                format!(
                    "trusts the whole account {} ({who}): any identity there allowed sts:AssumeRole may assume it",
                    g.principal_id
                )
            };
            out.push(finding(
                "medium",
                "wildcard-or-account-principal",
                role,
                evidence,
            ));
        }
    }

    let users = store.query_resources(sync, Some("user"))?;
    let policies = store.query_resources(sync, Some("policy"))?;
    for u in users
        .iter()
        .filter(|u| u.status.as_deref() == Some("frozen"))
    {
        let held: Vec<String> = store
            .grants_held_by(sync, "user", &u.id)?
            .iter()
            .map(|g| match g.entitlement.as_str() {
                "member" => format!("member of group:{}", g.resource_name),
                "attached" => format!("policy:{} attached", g.resource_name),
                "assume" => format!("may assume role:{}", g.resource_name),
                other => format!("{other} on {}:{}", g.resource_type, g.resource_name),
            })
            .collect();
        if !held.is_empty() {
            out.push(finding(
                "medium",
                "frozen-user-with-access",
                ("user", &u.name),
                format!("frozen, but still {}", held.join("; ")),
            ));
        }
    }

    // Holders of AdministratorAccess and of custom policies that allow everything.
    let access = Access::new(store, account)?;
    for p in policies.iter().filter(|p| flag(p, "allows_everything")) {
        let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for path in access.of_resource(&format!("policy:{}", p.name))? {
            holders
                .entry(path.principal.clone())
                .or_default()
                .push(path.path.join(" -> "));
        }
        for (holder, paths) in holders {
            let (t, name) = holder.split_once(':').unwrap_or(("", &holder));
            out.push(finding(
                "high",
                "admin-access",
                (t, name),
                format!(
                    "allowed every action on every resource: {}",
                    paths.join("; ")
                ),
            ));
        }
    }

    for g in grants
        .iter()
        .filter(|g| g.entitlement == "attached" && g.principal_type == "user")
    {
        out.push(finding(
            "low",
            "user-policy-attached-directly",
            ("user", &g.principal_name),
            format!(
                "policy:{} is attached to the user directly rather than through a group",
                g.resource_name
            ),
        ));
    }

    for group in store.query_resources(sync, Some("group"))? {
        if !grants.iter().any(|g| {
            g.resource_type == "group" && g.resource_id == group.id && g.entitlement == "member"
        }) {
            out.push(finding(
                "low",
                "empty-group",
                ("group", &group.name),
                "the group has no members".into(),
            ));
        }
    }

    for p in &policies {
        let custom = p.attributes.get("policy_type").and_then(|v| v.as_str()) == Some("Custom");
        let unattached = p
            .attributes
            .get("attachment_count")
            .and_then(|v| v.as_str())
            == Some("0");
        if custom && unattached {
            out.push(finding(
                "low",
                "unused-custom-policy",
                ("policy", &p.name),
                "the custom policy is attached to no user, group or role".into(),
            ));
        }
    }

    for r in store.query_resources(sync, Some("role"))? {
        if let Some(problem) = r
            .attributes
            .get("trust_policy_error")
            .and_then(|v| v.as_str())
        {
            out.push(finding(
                "medium",
                "unreadable-trust-policy",
                ("role", &r.name),
                format!("the trust policy could not be read: {problem}"),
            ));
        }
    }

    out.sort();
    Ok(out)
}
