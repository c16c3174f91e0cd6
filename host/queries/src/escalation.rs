//! Privilege escalation: principals that are not admin but may call a RAM action that makes
//! them admin or gives them another principal's access, each with the concrete path.
//!
//! Every rule asks the evaluator about a concrete target, so an explicit Deny of that action
//! (or of that target) removes the finding. The rules:
//! - `ram:AttachPolicyToUser` on itself, `ram:AttachPolicyToGroup` on a group it is in,
//!   `ram:AttachPolicyToRole` on itself (a role) or on a role it may assume: attach
//!   AdministratorAccess;
//! - `ram:CreatePolicyVersion` or `ram:SetDefaultPolicyVersion` on a Custom policy it holds:
//!   rewrite what the policy allows;
//! - `ram:AddUserToGroup` into a group with admin, or with a policy it does not hold;
//! - `ram:CreateAccessKey`, `ram:CreateLoginProfile`, `ram:UpdateLoginProfile` on another user
//!   with admin or with a policy it does not hold: act as that user;
//! - `ram:UpdateRole` on a role with admin or with a policy it does not hold: rewrite its
//!   trust policy, then assume it;
//!
//! Admin targets are tried first, so the evidence names the most powerful one.
//! - `sts:AssumeRole` into a role that any rule above flags, when the role trusts it and its
//!   own policies allow it `sts:AssumeRole` on that role.

use crate::findings::{Finding, finding};
use crate::permissions::{HeldPolicy, Holder, Permissions};
use anyhow::Result;
use ramsync_policy_eval::{Decision, Target};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What one rule needs of a principal: the targets to try, and what it would gain.
enum Targets {
    /// The principal itself.
    Itself,
    /// The groups it is a member of.
    OwnGroups,
    /// The Custom policies it holds.
    HeldCustomPolicies,
    /// Groups it is not in that hold admin, then those holding a policy it lacks.
    Groups,
    /// Other users that are admin, then those holding a policy it lacks.
    Users,
    /// Other roles that are admin, then those holding a policy it lacks.
    Roles,
}

const RULES: &[(&str, Targets, &str)] = &[
    (
        "ram:AttachPolicyToUser",
        Targets::Itself,
        "attach AdministratorAccess to itself",
    ),
    (
        "ram:AttachPolicyToGroup",
        Targets::OwnGroups,
        "attach AdministratorAccess to a group it is in",
    ),
    (
        "ram:AttachPolicyToRole",
        Targets::Itself,
        "attach AdministratorAccess to itself (a role) or to a role it may assume",
    ),
    (
        "ram:CreatePolicyVersion",
        Targets::HeldCustomPolicies,
        "write a new default version of a policy it holds that allows everything",
    ),
    (
        "ram:SetDefaultPolicyVersion",
        Targets::HeldCustomPolicies,
        "make another version of a policy it holds the default",
    ),
    (
        "ram:AddUserToGroup",
        Targets::Groups,
        "add itself to that group and gain its access",
    ),
    (
        "ram:CreateAccessKey",
        Targets::Users,
        "create an AccessKey for that user and act as it",
    ),
    (
        "ram:CreateLoginProfile",
        Targets::Users,
        "give that user a console password and log on as it",
    ),
    (
        "ram:UpdateLoginProfile",
        Targets::Users,
        "reset that user's console password and log on as it",
    ),
    (
        "ram:UpdateRole",
        Targets::Roles,
        "rewrite that role's trust policy to trust itself, then assume it",
    ),
];

/// A principal's escalation: the action, the target, how it holds the action, and the gain.
struct Escalation {
    principal_type: String,
    name: String,
    evidence: String,
}

fn login_name(upn: &str) -> &str {
    upn.split('@').next().unwrap_or(upn)
}

/// The `privilege-escalation` findings of a sync.
pub(crate) fn escalations(permissions: &Permissions<'_>) -> Result<Vec<Finding>> {
    let (store, sync) = permissions.store();
    let Some(account_id) = permissions.account_id() else {
        return Ok(Vec::new());
    };
    let arn = |kind: &str, name: &str| format!("acs:ram:*:{account_id}:{kind}/{name}");

    // What every user (through its groups too), group and role holds, read once.
    let mut holdings: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    let mut group_policies: HashMap<String, Vec<String>> = HashMap::new();
    for (policy_id, t, id, name) in store.entitlement_grants(sync, "policy", "attached")? {
        if t == "group" {
            group_policies
                .entry(id.clone())
                .or_default()
                .push(policy_id.clone());
        }
        holdings
            .entry((t, id))
            .or_insert_with(|| (name, Vec::new()))
            .1
            .push(policy_id);
    }
    for (group_id, _, user_id, user_name) in store.entitlement_grants(sync, "group", "member")? {
        if let Some(policies) = group_policies.get(&group_id) {
            holdings
                .entry(("user".into(), user_id))
                .or_insert_with(|| (user_name, Vec::new()))
                .1
                .extend(policies.iter().cloned());
        }
    }
    // Who is admin already: whoever holds an admin policy, users through groups too.
    let admin_policies = permissions.admin_policy_ids();
    let admins: HashSet<(String, String)> = holdings
        .iter()
        .filter(|(_, (_, policies))| policies.iter().any(|p| admin_policies.contains(p.as_str())))
        .map(|(key, _)| key.clone())
        .collect();
    let admins_of = |kind: &str| -> Vec<(String, String)> {
        holdings
            .iter()
            .filter(|(key, _)| key.0 == kind && admins.contains(*key))
            .map(|((_, id), (name, _))| (id.clone(), name.clone()))
            .collect()
    };
    let (admin_users, admin_groups, admin_roles) =
        (admins_of("user"), admins_of("group"), admins_of("role"));
    let admin_role_names: HashSet<&str> = admin_roles.iter().map(|(_, n)| n.as_str()).collect();

    // Per kind: admins first (named "(admin)"), then everyone else with some policy.
    let others = |kind: &str, admin: &[(String, String)]| -> Vec<(String, String, Vec<String>)> {
        let mut out: Vec<(String, String, Vec<String>)> = admin
            .iter()
            .map(|(id, name)| (id.clone(), name.clone(), Vec::new()))
            .collect();
        let admin_ids: HashSet<&String> = admin.iter().map(|(id, _)| id).collect();
        out.extend(
            holdings
                .range((kind.to_string(), String::new())..)
                .take_while(|((t, _), _)| t == kind)
                .filter(|((_, id), _)| !admin_ids.contains(id))
                .map(|((_, id), (name, policies))| (id.clone(), name.clone(), policies.clone())),
        );
        out
    };
    let target_users = others("user", &admin_users);
    let target_groups = others("group", &admin_groups);
    let target_roles = others("role", &admin_roles);
    // A target is worth taking if it is admin (no policies listed) or holds a policy the
    // attacker lacks; the text says which.
    let worth = |held: &HashSet<&str>, policies: &[String]| -> Option<String> {
        if policies.is_empty() {
            return Some("admin".into());
        }
        let lacking = policies.iter().find(|p| !held.contains(p.as_str()))?;
        Some(format!(
            "holds policy:{} it lacks",
            permissions.policy_name(lacking).unwrap_or(lacking)
        ))
    };

    // Roles every identity of the account may assume: trusted through the account itself.
    let account_roles: Vec<String> = store
        .grants_held_by(sync, "account", account_id)?
        .into_iter()
        .filter(|g| g.entitlement == "assume")
        .map(|g| g.resource_name)
        .collect();
    // Each principal's policies, read once for all rules.
    let mut held_cache: HashMap<(String, String), Vec<HeldPolicy>> = HashMap::new();
    let mut found: Vec<Escalation> = Vec::new();
    let mut escalating_roles: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (action, targets, gain) in RULES {
        for holder in permissions.holders(action, Target::Any)? {
            let Holder {
                principal_type: t,
                id,
                principal: me,
                ..
            } = &holder;
            if !matches!(t.as_str(), "user" | "role") || admins.contains(&(t.clone(), id.clone())) {
                continue;
            }
            let name = me.split_once(':').map_or(me.as_str(), |(_, n)| n);
            let key = (t.clone(), id.clone());
            if !held_cache.contains_key(&key) {
                let policies = permissions.own_policies(t, id, me)?;
                held_cache.insert(key.clone(), policies);
            }
            let held = held_cache[&key].clone();
            let held_ids: HashSet<&str> = held.iter().map(|(_, p)| p.as_str()).collect();
            // Lazily: the first target the action is allowed on is enough, and there may be
            // thousands (every admin user, every role the account trusts).
            let candidates: Box<dyn Iterator<Item = (String, String)> + '_> = match targets {
                Targets::Itself if *action == "ram:AttachPolicyToUser" && t == "user" => Box::new(
                    std::iter::once((arn("user", login_name(name)), "itself".into())),
                ),
                Targets::Itself if *action == "ram:AttachPolicyToRole" && t == "role" => {
                    Box::new(std::iter::once((arn("role", name), "itself".into())))
                }
                Targets::Itself if *action == "ram:AttachPolicyToRole" => {
                    // A user may attach to a role it can assume (trusted by name, or through
                    // a trust in the whole account), then assume it.
                    let direct: Vec<String> = store
                        .grants_held_by(sync, "user", id)?
                        .into_iter()
                        .filter(|g| g.entitlement == "assume")
                        .map(|g| g.resource_name)
                        .collect();
                    Box::new(
                        direct
                            .into_iter()
                            .chain(account_roles.iter().cloned())
                            .filter(|role| !admin_role_names.contains(role.as_str()))
                            .map(|role| (arn("role", &role), format!("role:{role} it may assume"))),
                    )
                }
                Targets::OwnGroups if t == "user" => Box::new(
                    store
                        .grants_held_by(sync, "user", id)?
                        .into_iter()
                        .filter(|g| g.entitlement == "member")
                        .map(|g| {
                            (
                                arn("group", &g.resource_name),
                                format!("group:{}", g.resource_name),
                            )
                        }),
                ),
                Targets::HeldCustomPolicies => Box::new(
                    held.iter()
                        .filter(|(_, p)| permissions.is_custom(p))
                        .map(|(_, p)| {
                            let n = permissions.policy_name(p).unwrap_or_default();
                            (arn("policy", n), format!("policy:{n}"))
                        })
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
                Targets::Groups if t == "user" => {
                    let mine: HashSet<String> = store
                        .grants_held_by(sync, "user", id)?
                        .into_iter()
                        .filter(|g| g.entitlement == "member")
                        .map(|g| g.resource_id)
                        .collect();
                    Box::new(
                        target_groups
                            .iter()
                            .filter(move |(gid, _, _)| !mine.contains(gid))
                            .filter_map(|(_, n, p)| {
                                let why = worth(&held_ids, p)?;
                                Some((arn("group", n), format!("group:{n} ({why})")))
                            }),
                    )
                }
                Targets::Users => Box::new(
                    target_users
                        .iter()
                        .filter(move |(uid, _, _)| !(t == "user" && uid == id))
                        .filter_map(|(_, n, p)| {
                            let why = worth(&held_ids, p)?;
                            Some((arn("user", login_name(n)), format!("user:{n} ({why})")))
                        }),
                ),
                Targets::Roles => Box::new(
                    target_roles
                        .iter()
                        .filter(move |(rid, _, _)| !(t == "role" && rid == id))
                        .filter_map(|(_, n, p)| {
                            let why = worth(&held_ids, p)?;
                            Some((arn("role", n), format!("role:{n} ({why})")))
                        }),
                ),
                _ => Box::new(std::iter::empty()),
            };
            for (target, target_name) in candidates {
                let (decision, statements) =
                    permissions.decide_held(&held, action, Target::Arn(&target));
                if !decision.may_allow() {
                    continue;
                }
                let how = statements
                    .iter()
                    .find(|s| s.reason.effect == "Allow")
                    .map(|s| format!("{} (statement {})", s.path.join(" -> "), s.reason.statement))
                    .unwrap_or_default();
                let conditional = if decision == Decision::Conditional {
                    " (under conditions)"
                } else {
                    ""
                };
                let evidence = format!(
                    "may call {action} on {target_name}{conditional} through {how}, so it can {gain}"
                );
                if t == "role" {
                    escalating_roles
                        .entry(id.clone())
                        .or_insert_with(|| (name.to_string(), evidence.clone()));
                }
                found.push(Escalation {
                    principal_type: t.clone(),
                    name: name.to_string(),
                    evidence,
                });
                break;
            }
        }
    }

    // Whoever may assume an escalating role may do the same, through it.
    for (role_id, (role_name, role_evidence)) in &escalating_roles {
        let mut assumers = Vec::new();
        permissions.access().assumers_of(role_id, &mut assumers)?;
        for a in assumers {
            let Some((t, name)) = a.principal.split_once(':') else {
                continue;
            };
            if !matches!(t, "user" | "role") {
                continue;
            }
            let Some(who) = store.find_resource(sync, t, name)? else {
                continue;
            };
            if admins.contains(&(t.to_string(), who.id.clone())) {
                continue;
            }
            // The trust is not enough: its own policies must allow sts:AssumeRole too.
            let Some(permission) = permissions.assume_permitted(&a.path)? else {
                continue;
            };
            let all: Vec<String> = a.conditions.iter().cloned().chain(permission).collect();
            let conditions = match all.is_empty() {
                true => String::new(),
                false => format!(" [{}]", all.join(", ")),
            };
            found.push(Escalation {
                principal_type: t.to_string(),
                name: who.name.clone(),
                evidence: format!(
                    "may assume role:{role_name} through {}{conditions} (sts:AssumeRole), and role:{role_name} {role_evidence}",
                    a.path.join(" -> ")
                ),
            });
        }
    }

    let mut out: Vec<Finding> = found
        .into_iter()
        .map(|e| {
            finding(
                "high",
                "privilege-escalation",
                (&e.principal_type, &e.name),
                e.evidence,
            )
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}
