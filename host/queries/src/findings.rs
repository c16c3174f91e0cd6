//! Findings: the risky facts an auditor looks for first, read from the newest complete sync.
//! Each has a stable code, a severity, the resource it is about and the evidence.

use crate::access::Access;
use anyhow::Result;
use ramsync_store::{ResourceRow, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// One risky fact, with the evidence for it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Sorting puts the most severe first.
    #[serde(skip)]
    pub rank: u8,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: &'static str,
    /// What kind of risk, for example `console-without-mfa`.
    pub code: &'static str,
    /// The type of the resource it concerns.
    pub resource_type: String,
    /// Its name.
    pub resource_name: String,
    /// Why, in a sentence: the path, the condition, the dates.
    pub evidence: String,
}

pub(crate) fn finding(
    severity: &'static str,
    code: &'static str,
    r: (&str, &str),
    evidence: String,
) -> Finding {
    let rank = match severity {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        _ => 3,
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

/// The `privilege-escalation` findings alone, from the policy documents of the newest
/// complete sync of `account`.
pub fn privilege_escalation(store: &Store, account: &str) -> Result<Vec<Finding>> {
    let permissions = crate::permissions::Permissions::new(store, account)?;
    crate::escalation::escalations(&permissions)
}

/// The findings of the newest complete sync of `account`, most severe first.
pub fn findings(store: &Store, account: &str) -> Result<Vec<Finding>> {
    let run = store.readable_sync(account)?;
    let sync = run.id;
    let grants = store.query_grants(sync)?;
    let names = crate::directory::other_account_names(store, sync)?;
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
        let mut who = g
            .attributes
            .get("trust_principal")
            .and_then(|v| v.as_str())
            .unwrap_or(&g.principal_name)
            .to_string();
        if let Some((name, path)) = crate::directory::principal_account_name(&names, g) {
            who.push_str(&format!(" ({name} in {path} of the resource directory)"));
        }
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

    credential_findings(store, sync, parse_date(&run.started_at), &users, &mut out)?;
    unused_console_access(parse_date(&run.started_at), &users, &mut out);
    for account in store.query_resources(sync, Some("account"))? {
        account_settings(&account, &mut out);
    }

    // Privilege escalation, from the policy documents (none in a sync made before they were
    // read, and then nothing is claimed).
    out.extend(privilege_escalation(store, account)?);

    out.sort();
    Ok(out)
}

/// Active AccessKeys older than this are reported; 90 days is the rotation period CIS and
/// Alibaba Cloud's own Config rules use.
pub const MAX_KEY_AGE_DAYS: i64 = 90;

/// Active AccessKeys not used for longer than this are reported (CIS: disable credentials
/// unused for 90 days or more).
pub const MAX_KEY_UNUSED_DAYS: i64 = 90;

/// `access-key-unused`: an active key whose last use (`last_used_date`, or `never_used` and
/// its creation) is more than [`MAX_KEY_UNUSED_DAYS`] before the sync. Nothing is said of a
/// key whose last use is unknown.
fn unused_key(
    key: &ResourceRow,
    user: &str,
    synced_at: Option<time::OffsetDateTime>,
    frozen_note: &str,
) -> Option<Finding> {
    let date = |k: &str| key.attributes.get(k).and_then(|v| v.as_str());
    // Idle since the last use, or since the creation of a key never used.
    let (since, used) = match date("last_used_date") {
        Some(used) => (used, true),
        None if flag(key, "never_used") => (date("create_date")?, false),
        None => return None,
    };
    let idle = synced_at? - parse_date(since)?;
    if idle <= time::Duration::days(MAX_KEY_UNUSED_DAYS) {
        return None;
    }
    let (id, days) = (&key.id, idle.whole_days());
    let evidence = match used {
        true => format!(
            "AccessKey {id} is active but was last used {days} days before the sync ({since}); disable it if nothing needs it{frozen_note}"
        ),
        false => format!(
            "AccessKey {id} is active but was never used in the {days} days since it was created ({since}); disable it if nothing needs it{frozen_note}"
        ),
    };
    // Medium: an unused key serves no one, yet works for whoever finds it; disabling it
    // costs nothing and removes a credential an attacker could use unnoticed.
    Some(finding(
        "medium",
        "access-key-unused",
        ("user", user),
        evidence,
    ))
}

/// Console users not logged on for longer than this are reported (CIS Alibaba Cloud 1.5).
pub const MAX_CONSOLE_IDLE_DAYS: i64 = 90;

/// `console-access-unused`: console logon is enabled, yet the user has not logged on for
/// more than [`MAX_CONSOLE_IDLE_DAYS`] before the sync, or never since being created that
/// long ago. Nothing is said when it is unknown whether the user has console access.
fn unused_console_access(
    synced_at: Option<time::OffsetDateTime>,
    users: &[ResourceRow],
    out: &mut Vec<Finding>,
) {
    let Some(synced_at) = synced_at else { return };
    for u in users.iter().filter(|u| flag(u, "console_access")) {
        let date = |k: &str| {
            u.attributes
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|d| !d.is_empty())
        };
        let (since, logged_on) = match date("last_login_date") {
            Some(d) => (d, true),
            None => match date("create_date") {
                Some(d) => (d, false),
                None => continue,
            },
        };
        let Some(idle) = parse_date(since).map(|d| synced_at - d) else {
            continue;
        };
        if idle <= time::Duration::days(MAX_CONSOLE_IDLE_DAYS) {
            continue;
        }
        let days = idle.whole_days();
        let mut evidence = match logged_on {
            true => format!(
                "console logon is enabled, but the user last logged on {days} days before the sync ({since}); disable console logon if it is not needed"
            ),
            false => format!(
                "console logon is enabled, but the user has never logged on in the {days} days since it was created ({since}); disable console logon if it is not needed"
            ),
        };
        if u.status.as_deref() == Some("frozen") {
            evidence.push_str("; the user is frozen");
        }
        // Medium: an unused password is one nobody would notice being guessed or phished.
        out.push(finding(
            "medium",
            "console-access-unused",
            ("user", &u.name),
            evidence,
        ));
    }
}

/// The smallest password length CIS Alibaba Cloud 1.11 accepts.
pub const MIN_PASSWORD_LENGTH: i64 = 14;
/// The longest password age CIS Alibaba Cloud v1.0.0 1.13 accepts, in days.
pub const MAX_PASSWORD_AGE_DAYS: i64 = 90;
/// The fewest earlier passwords CIS Alibaba Cloud 1.12 asks to be kept from reuse.
pub const MIN_PASSWORD_REUSE_PREVENTION: i64 = 5;
/// The most failed logons in an hour before a lockout CIS Alibaba Cloud 1.14 accepts.
pub const MAX_LOGIN_ATTEMPTS: i64 = 5;

/// The account's password policy and root identity: `weak-password-policy` once per weak
/// setting, `root-access-key` and `root-without-mfa`. Settings the sync could not read
/// report nothing.
fn account_settings(account: &ResourceRow, out: &mut Vec<Finding>) {
    let at = ("account", account.name.as_str());
    let json = |k: &str| {
        account
            .attributes
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    };
    if let Some(policy) = json("password_policy") {
        let number = |k: &str| policy.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
        let required = |k: &str| policy.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
        let mut weak = |evidence: String| {
            // Medium: each weak setting makes guessing or reusing a console password easier,
            // but MFA (reported on its own) still stands in the way.
            out.push(finding("medium", "weak-password-policy", at, evidence));
        };
        let length = number("MinimumPasswordLength");
        if length < MIN_PASSWORD_LENGTH {
            weak(format!(
                "MinimumPasswordLength is {length}; CIS Alibaba Cloud 1.11 asks for {MIN_PASSWORD_LENGTH} or more"
            ));
        }
        for (key, what, cis) in [
            ("RequireUppercaseCharacters", "an uppercase letter", "1.7"),
            ("RequireLowercaseCharacters", "a lowercase letter", "1.8"),
            ("RequireSymbols", "a symbol", "1.9"),
            ("RequireNumbers", "a number", "1.10"),
        ] {
            if !required(key) {
                weak(format!(
                    "{key} is false: passwords need not contain {what} (CIS Alibaba Cloud {cis})"
                ));
            }
        }
        match number("MaxPasswordAge") {
            0 => weak(format!(
                "MaxPasswordAge is 0: passwords never expire; CIS Alibaba Cloud v1.0.0 1.13 asks for {MAX_PASSWORD_AGE_DAYS} days or less"
            )),
            age if age > MAX_PASSWORD_AGE_DAYS => weak(format!(
                "MaxPasswordAge is {age} days; CIS Alibaba Cloud v1.0.0 1.13 asks for {MAX_PASSWORD_AGE_DAYS} or less"
            )),
            _ => {}
        }
        let reuse = number("PasswordReusePrevention");
        if reuse < MIN_PASSWORD_REUSE_PREVENTION {
            weak(format!(
                "PasswordReusePrevention is {reuse}; CIS Alibaba Cloud 1.12 asks that the last {MIN_PASSWORD_REUSE_PREVENTION} passwords may not be reused"
            ));
        }
        match number("MaxLoginAttemps") {
            0 => weak(format!(
                "MaxLoginAttemps is 0: failed logons never lock the user out; CIS Alibaba Cloud 1.14 asks for a lockout after {MAX_LOGIN_ATTEMPTS} or fewer"
            )),
            n if n > MAX_LOGIN_ATTEMPTS => weak(format!(
                "MaxLoginAttemps is {n}; CIS Alibaba Cloud 1.14 asks for a lockout after {MAX_LOGIN_ATTEMPTS} or fewer failed logons in an hour"
            )),
            _ => {}
        }
    }
    if let Some(keys) = json("root_access_keys").and_then(|v| v.as_array().cloned()) {
        for key in keys {
            let field = |k: &str| key.get(k).and_then(|v| v.as_str()).unwrap_or("unknown");
            let active = key.get("active").and_then(|v| v.as_bool());
            let state = match active {
                Some(true) => "an active",
                Some(false) => "an inactive",
                None => "an",
            };
            let used = match key.get("last_used").and_then(|v| v.as_str()) {
                Some(d) => format!("last used {d}"),
                None => "never used".to_string(),
            };
            // Critical: the root identity's key can do everything in the account, and no
            // policy can limit it; CIS Alibaba Cloud 1.2 asks that none exist.
            out.push(finding(
                "critical",
                "root-access-key",
                at,
                format!(
                    "the root identity has {state} AccessKey, created {}, {used} (from the credential report); delete it and use RAM identities",
                    field("created")
                ),
            ));
        }
    }
    if account
        .attributes
        .get("root_mfa_active")
        .and_then(|v| v.as_bool())
        == Some(false)
    {
        // High: the root identity's password alone opens the whole account.
        out.push(finding(
            "high",
            "root-without-mfa",
            at,
            "the root identity has no MFA device (from the credential report); CIS Alibaba Cloud 1.3".into(),
        ));
    }
}

fn parse_date(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Console logon without MFA, and AccessKeys that are old or more than one. Frozen users
/// are reported too, saying so: their login profile and keys are still there, the API still
/// reports the keys active, and unfreezing the user brings the risk back at once.
fn credential_findings(
    store: &Store,
    sync: i64,
    synced_at: Option<time::OffsetDateTime>,
    users: &[ResourceRow],
    out: &mut Vec<Finding>,
) -> Result<()> {
    let frozen = |u: &ResourceRow| u.status.as_deref() == Some("frozen");
    for u in users {
        let mfa = u.attributes.get("mfa_enabled").and_then(|v| v.as_bool());
        // Known only when the mfa-and-login syncer ran: absent attributes report nothing.
        if !flag(u, "console_access") || mfa != Some(false) {
            continue;
        }
        let mut evidence =
            "console logon is enabled with a password alone: no MFA device is bound".to_string();
        if flag(u, "mfa_bind_required") {
            evidence.push_str("; MFA binding is required at the next logon");
        }
        if frozen(u) {
            evidence.push_str("; the user is frozen");
        }
        // High: the console is reachable from anywhere, and one phished, guessed or reused
        // password gives an attacker everything the user's policies allow, interactively.
        // MFA is the control that stops that, and it costs the user a minute to bind.
        out.push(finding(
            "high",
            "console-without-mfa",
            ("user", &u.name),
            evidence,
        ));
    }

    let by_id: BTreeMap<&str, &ResourceRow> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    // Active keys per user id, in key id order.
    let mut active: BTreeMap<String, Vec<ResourceRow>> = BTreeMap::new();
    for key in store.query_resources(sync, Some("access-key"))? {
        if key.status.as_deref() == Some("active") {
            active
                .entry(key.parent_id.clone().unwrap_or_default())
                .or_default()
                .push(key);
        }
    }
    for (user_id, keys) in &mut active {
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        let user = by_id.get(user_id.as_str());
        let name = user.map_or(user_id.as_str(), |u| u.name.as_str());
        let is_frozen = user.is_some_and(|u| frozen(u));
        let frozen_note = |what: &str| match is_frozen {
            true => format!("; the user is frozen, but the API still reports {what} active"),
            false => String::new(),
        };
        for key in keys.iter() {
            out.extend(unused_key(key, name, synced_at, &frozen_note("the key")));
            let created = key.attributes.get("create_date").and_then(|v| v.as_str());
            let (Some(created), Some(synced_at)) = (created, synced_at) else {
                continue;
            };
            let Some(age) = parse_date(created).map(|c| synced_at - c) else {
                continue;
            };
            if age > time::Duration::days(MAX_KEY_AGE_DAYS) {
                // Medium: an old key is not exposed by its age, but the longer a key lives
                // the more places it has been copied to, and the longer a leak stays usable.
                out.push(finding(
                    "medium",
                    "access-key-older-than-90-days",
                    ("user", name),
                    format!(
                        "AccessKey {} is active and {} days old at the sync (created {created}); rotate it{}",
                        key.id,
                        age.whole_days(),
                        frozen_note("the key")
                    ),
                ));
            }
        }
        if keys.len() > 1 {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            // Low: two active keys are the normal state during a rotation; a rotation that
            // is never finished leaves an old key behind, which the age finding reports.
            out.push(finding(
                "low",
                "multiple-active-access-keys",
                ("user", name),
                format!(
                    "{} active AccessKeys: {}{}",
                    keys.len(),
                    ids.join(", "),
                    frozen_note("them")
                ),
            ));
        }
    }
    Ok(())
}
