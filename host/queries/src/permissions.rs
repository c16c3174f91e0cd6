//! Action-level access: who may call an action (on a resource), and whether one principal
//! may, evaluated offline from the synced policy documents by `ramsync-policy-eval`.
//!
//! A principal's own decision combines every policy it holds, directly and through its
//! groups, so an explicit Deny anywhere wins. A role's session has the role's policies only;
//! whoever may assume the role reaches what the role may do, under the trust's conditions.

use crate::access::{Access, AccessPath};
use anyhow::{Result, bail};
use ramsync_policy_eval::{Decision, Effect, Hit, Policy, Target};
use ramsync_store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One statement that applies to the question, and the policy it is in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reason {
    /// The policy, `policy:NAME`.
    pub policy: String,
    /// The statement's number in the policy, from 1.
    pub statement: usize,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// The statement's actions as written (`not ` before NotAction ones).
    pub actions: Vec<String>,
    /// The statement's resources as written (`not ` before NotResource ones).
    pub resources: Vec<String>,
    /// Its conditions, `OPERATOR KEY VALUES`; empty when it has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

/// One way a principal is allowed an action.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Allowance {
    /// Who, `TYPE:NAME`.
    pub principal: String,
    /// `allowed` or `conditional`.
    pub decision: String,
    /// The steps, principal first, ending at the policy.
    pub path: Vec<String>,
    /// The Allow statement at the end of the path.
    pub reason: Reason,
    /// Conditions on the way: of the statement, of a role's trust, or of a Deny that may
    /// apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

impl Allowance {
    /// One line: `user:x -> group:g -> policy:p (statement 2)  [conditions]`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} (statement {})",
            self.path.join(" -> "),
            self.reason.statement
        );
        if !self.conditions.is_empty() {
            s.push_str(&format!("  [{}]", self.conditions.join("; ")));
        }
        s
    }
}

/// What `can` answers: the decision for the principal itself, the statements that decide
/// it, and the roles it may assume that are allowed.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The principal, `TYPE:NAME`.
    pub principal: String,
    /// The action asked about.
    pub action: String,
    /// The resource asked about; `*` for any.
    pub resource: String,
    /// allowed, conditional, denied or not allowed.
    pub decision: String,
    /// The statements that apply, each with the path to its policy.
    pub statements: Vec<Deciding>,
    /// Roles the principal may assume whose own decision allows the action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub through_roles: Vec<Allowance>,
}

/// A statement deciding a `can` answer, with the path to its policy.
#[derive(Debug, Clone, Serialize)]
pub struct Deciding {
    /// The steps, principal first, ending at the policy.
    pub path: Vec<String>,
    /// The statement.
    #[serde(flatten)]
    pub reason: Reason,
}

/// A policy whose document did not parse, and why. It is left out of every answer.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    /// The policy, `policy:NAME`.
    pub policy: String,
    /// What is wrong with its document.
    pub error: String,
}

/// A user, group or role whose own policies allow an action.
pub(crate) struct Holder {
    /// `user`, `group` or `role`.
    pub(crate) principal_type: String,
    /// Its id.
    pub(crate) id: String,
    /// `TYPE:NAME`.
    pub(crate) principal: String,
    /// Its Allow paths.
    pub(crate) allowances: Vec<Allowance>,
}

struct Held {
    name: String,
    custom: bool,
    policy: Policy,
}

/// Action-level questions over the newest complete sync of one account.
pub struct Permissions<'s> {
    access: Access<'s>,
    store: &'s Store,
    sync_id: i64,
    /// Parsed documents of the attached policies, by policy id.
    policies: HashMap<String, Held>,
    unreadable: Vec<Unreadable>,
    /// The statements (policy id, index) by the service of their actions, lowercased; under
    /// [`ANY_SERVICE`] those that may match any service.
    by_service: HashMap<String, Vec<(String, usize)>>,
    /// The account's id, for role ARNs.
    account_id: Option<String>,
    /// Attached policies whose document was not synced (a sync before documents were).
    missing: usize,
    /// Other accounts of the database, read when a path leads into them.
    others: std::cell::RefCell<HashMap<String, std::rc::Rc<Permissions<'s>>>>,
}

/// The steps to a policy, principal first, and the policy's id.
type PolicyPath<'a> = (Vec<String>, &'a str);

/// A policy a principal holds: the steps to it, principal first, and the policy's id.
pub(crate) type HeldPolicy = (Vec<String>, String);

/// An identity that reaches a role: its name, the path from it, and the conditions on it.
type Reached = (String, Vec<String>, Vec<String>);

/// The index key of statements that may name any service (`*`, `NotAction`).
const ANY_SERVICE: &str = "*";

fn step(t: &str, name: &str) -> String {
    format!("{t}:{name}")
}

fn reason(policy: &str, hit: &Hit<'_>) -> Reason {
    let s = hit.statement;
    Reason {
        policy: step("policy", policy),
        statement: s.number,
        effect: match s.effect {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
        .into(),
        actions: s.actions.written(),
        resources: s.resources.written(),
        conditions: s.conditions.iter().map(|c| c.to_string()).collect(),
    }
}

/// Checks an action as the commands take it: one `service:Action`, without wildcards (those
/// belong in policies; a question is about one call).
pub fn check_action(action: &str) -> Result<()> {
    let ok = action.split_once(':').is_some_and(|(service, name)| {
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        word(service) && word(name)
    });
    if !ok {
        bail!(
            "ACTION must be one SERVICE:ACTION without wildcards, for example ram:AttachPolicyToUser; got {action:?}"
        );
    }
    Ok(())
}

/// Checks a resource ARN: `acs:<service>:<region>:<account>:<relative-id>`.
pub fn check_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    if parts.len() != 5 || parts[0] != "acs" || parts[1].is_empty() || parts[4].is_empty() {
        bail!(
            "--resource must be an ARN, acs:SERVICE:REGION:ACCOUNT:RELATIVE-ID, for example acs:oss:*:123456789012:mybucket/report.csv; got {arn:?}"
        );
    }
    Ok(())
}

impl<'s> Permissions<'s> {
    /// Reads the policy documents of the newest complete sync of `account`.
    pub fn new(store: &'s Store, account: &str) -> Result<Self> {
        let access = Access::new(store, account)?;
        let sync_id = access.sync_id();
        let mut policies = HashMap::new();
        let mut unreadable = Vec::new();
        let mut missing = 0;
        for p in store.query_resources(sync_id, Some("policy"))? {
            let attached = p
                .attributes
                .get("attachment_count")
                .and_then(|v| v.as_str())
                .is_none_or(|n| n != "0");
            match p.attributes.get("policy_document").and_then(|v| v.as_str()) {
                Some(doc) => match Policy::parse(doc) {
                    Ok(policy) => {
                        policies.insert(
                            p.id.clone(),
                            Held {
                                name: p.name.clone(),
                                custom: p.attributes.get("policy_type").and_then(|v| v.as_str())
                                    == Some("Custom"),
                                policy,
                            },
                        );
                    }
                    Err(error) => unreadable.push(Unreadable {
                        policy: step("policy", &p.name),
                        error,
                    }),
                },
                None if attached => missing += 1,
                None => {}
            }
        }
        let mut by_service: HashMap<String, Vec<(String, usize)>> = HashMap::new();
        for (id, held) in &policies {
            for (i, statement) in held.policy.statements.iter().enumerate() {
                let services = statement
                    .services()
                    .unwrap_or_else(|| vec![ANY_SERVICE.to_string()]);
                for service in services {
                    by_service.entry(service).or_default().push((id.clone(), i));
                }
            }
        }
        let account_id = access.account_id()?;
        Ok(Permissions {
            access,
            store,
            sync_id,
            account_id,
            policies,
            unreadable,
            by_service,
            missing,
            others: Default::default(),
        })
    }

    /// Attached policies whose documents did not parse; no answer counts them.
    pub fn unreadable(&self) -> &[Unreadable] {
        &self.unreadable
    }

    /// How many attached policies have no document in this sync (synced by an older
    /// ramsync); no answer counts them.
    pub fn missing_documents(&self) -> usize {
        self.missing
    }

    /// The policies with statements that apply to the question, by policy id. Only the
    /// statements indexed under the action's service, and those that may name any service,
    /// are looked at.
    fn applying<'p>(&'p self, action: &str, target: Target<'_>) -> HashMap<&'p str, Vec<Hit<'p>>> {
        let service = action
            .split_once(':')
            .map_or(action, |(s, _)| s)
            .to_ascii_lowercase();
        let mut out: HashMap<&str, Vec<Hit<'_>>> = HashMap::new();
        for (policy_id, number) in [
            self.by_service.get(&service),
            self.by_service.get(ANY_SERVICE),
        ]
        .into_iter()
        .flatten()
        .flatten()
        {
            let held = &self.policies[policy_id];
            if let Some(hit) = held.policy.statements[*number].hit(action, target) {
                out.entry(policy_id.as_str()).or_default().push(hit);
            }
        }
        for hits in out.values_mut() {
            hits.sort_by_key(|h| h.statement.number);
        }
        out
    }

    /// The policies a user, group or role holds for itself: (path to the policy, policy id).
    pub(crate) fn own_policies(&self, t: &str, id: &str, me: &str) -> Result<Vec<HeldPolicy>> {
        let mut out = Vec::new();
        for g in self.store.grants_held_by(self.sync_id, t, id)? {
            match g.entitlement.as_str() {
                "attached" => out.push((
                    vec![me.to_string(), step("policy", &g.resource_name)],
                    g.resource_id.clone(),
                )),
                "member" if t == "user" => {
                    let group = step("group", &g.resource_name);
                    for p in self
                        .store
                        .grants_held_by(self.sync_id, "group", &g.resource_id)?
                    {
                        if p.entitlement == "attached" {
                            out.push((
                                vec![
                                    me.to_string(),
                                    group.clone(),
                                    step("policy", &p.resource_name),
                                ],
                                p.resource_id.clone(),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Every user, group and role allowed `action` (on `resource`, or on some resource), and,
    /// through roles, whoever may assume them: one entry per path and Allow statement.
    pub fn who_can(&self, action: &str, resource: Option<&str>) -> Result<Vec<Allowance>> {
        let target = resource.map_or(Target::Any, Target::Arn);
        let mut out = Vec::new();
        for holder in self.holders(action, target)? {
            if holder.principal_type == "role" {
                // Whoever may assume the role reaches the same, under the trust's conditions.
                out.extend(self.through_role(&holder)?);
            }
            out.extend(holder.allowances);
        }
        out.sort_by(|a, b| {
            (&a.principal, &a.path, a.reason.statement).cmp(&(
                &b.principal,
                &b.path,
                b.reason.statement,
            ))
        });
        out.dedup();
        Ok(out)
    }

    /// The users, groups and roles whose own policies (a user's through its groups too) allow
    /// `action` on `target`, each with its decision and Allow paths.
    pub(crate) fn holders(&self, action: &str, target: Target<'_>) -> Result<Vec<Holder>> {
        let applying = self.applying(action, target);
        // Each principal's paths to applying policies: (principal type, id) -> paths.
        let mut held: BTreeMap<(String, String), (String, Vec<PolicyPath<'_>>)> = BTreeMap::new();
        for policy_id in applying.keys() {
            let policy = step("policy", &self.policies[*policy_id].name);
            let attached =
                self.store
                    .principals_granted(self.sync_id, "policy", policy_id, "attached")?;
            for (t, id, name) in attached {
                let holder = step(&t, &name);
                if t == "group" {
                    let members =
                        self.store
                            .principals_granted(self.sync_id, "group", &id, "member")?;
                    for (_, user_id, user_name) in members {
                        let user = step("user", &user_name);
                        held.entry(("user".into(), user_id))
                            .or_insert_with(|| (user.clone(), Vec::new()))
                            .1
                            .push((vec![user, holder.clone(), policy.clone()], policy_id));
                    }
                }
                held.entry((t, id))
                    .or_insert_with(|| (holder.clone(), Vec::new()))
                    .1
                    .push((vec![holder, policy.clone()], policy_id));
            }
        }
        let mut out = Vec::new();
        for ((t, id), (who, paths)) in held {
            let hits: Vec<&Hit<'_>> = paths
                .iter()
                .flat_map(|(_, p)| applying.get(p).into_iter().flatten())
                .collect();
            let decision = ramsync_policy_eval::decide(hits.iter().copied());
            if !decision.may_allow() {
                continue;
            }
            let denies = deny_conditions(&paths, &applying, &self.policies);
            let allowances = self.allowances(&who, &paths, &applying, decision, &denies);
            out.push(Holder {
                principal_type: t,
                id,
                principal: who,
                allowances,
            });
        }
        Ok(out)
    }

    /// A role holder's allowances as reached by each of its assumers, chains included.
    pub(crate) fn through_role(&self, role: &Holder) -> Result<Vec<Allowance>> {
        let mut assumers = Vec::new();
        self.access.assumers_of(&role.id, &mut assumers)?;
        let mut out = Vec::new();
        for a in assumers {
            let Some(permission) = self.assume_permitted(&a.path)? else {
                continue;
            };
            // The assumer itself, then the identities of another account of this database
            // that it stands for and that may call sts:AssumeRole on the role.
            let mut reached = vec![(a.principal.clone(), a.path.clone(), permission)];
            reached.extend(self.assumers_in_other_account(&a)?);
            for (principal, a_path, permission) in reached {
                for m in &role.allowances {
                    let mut path = a_path.clone();
                    path.extend(m.path.iter().skip(1).cloned());
                    let mut conditions = a.conditions.clone();
                    conditions.extend(permission.iter().cloned());
                    conditions.extend(m.conditions.iter().cloned());
                    out.push(Allowance {
                        principal: principal.clone(),
                        decision: if conditions.is_empty() {
                            m.decision.clone()
                        } else {
                            Decision::Conditional.as_str().into()
                        },
                        path,
                        reason: m.reason.clone(),
                        conditions,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Another account's permissions, read once per question.
    fn other(&self, account: &str) -> Result<std::rc::Rc<Permissions<'s>>> {
        if let Some(p) = self.others.borrow().get(account) {
            return Ok(p.clone());
        }
        let p = std::rc::Rc::new(Permissions::new(self.store, account)?);
        self.others
            .borrow_mut()
            .insert(account.to_string(), p.clone());
        Ok(p)
    }

    /// When an assume path starts at another account synced into this database (the whole
    /// account, or one of its users or roles by ARN): the identities of that account whose
    /// own policies allow `sts:AssumeRole` on the role, as Alibaba Cloud requires, each with
    /// the path from it and the conditions its permission adds. Their names carry the
    /// account: a user by its UserPrincipalName, a role as `role:ACCOUNT/NAME`.
    fn assumers_in_other_account(&self, a: &AccessPath) -> Result<Vec<Reached>> {
        let Some((t, name)) = a.path.first().and_then(|p| p.split_once(':')) else {
            return Ok(Vec::new());
        };
        // A trust names another account as `acs:ram::ID:root` or as its bare id.
        let bare = t == "account" && name.len() == 16 && name.bytes().all(|b| b.is_ascii_digit());
        let (account, what) = match name
            .strip_prefix("acs:ram::")
            .and_then(|r| r.split_once(':'))
        {
            Some(parts) => parts,
            None if bare => (name, "root"),
            None => return Ok(Vec::new()),
        };
        // Which identities of that account the trust names: all, or one user or role.
        let only: Option<(&str, &str)> = match (t, what) {
            ("account", "root") => None,
            ("user", w) => w.strip_prefix("user/").map(|u| ("user", u)),
            ("role", w) => w.strip_prefix("role/").map(|r| ("role", r)),
            _ => return Ok(Vec::new()),
        };
        let (Some(role), Some(here)) = (
            a.path.iter().skip(1).find_map(|s| s.strip_prefix("role:")),
            self.account_id.as_deref(),
        ) else {
            return Ok(Vec::new());
        };
        if account == here {
            return Ok(Vec::new());
        }
        let arn = format!("acs:ram::{here}:role/{}", role.to_ascii_lowercase());
        let mut out = Vec::new();
        for other in self.store.other_accounts(self.access.run_account())? {
            if other.account_id.as_deref() != Some(account) {
                continue;
            }
            let theirs = self.other(&other.account)?;
            for holder in theirs.holders("sts:AssumeRole", Target::Arn(&arn))? {
                let local = holder.principal.split_once(':').map_or("", |(_, n)| n);
                let login = local.split('@').next().unwrap_or(local);
                let named = match (holder.principal_type.as_str(), only) {
                    ("group", _) => false,
                    (_, None) => true,
                    ("user", Some(("user", u))) => login.eq_ignore_ascii_case(u),
                    ("role", Some(("role", r))) => local.eq_ignore_ascii_case(r),
                    _ => false,
                };
                if !named {
                    continue;
                }
                let principal = match holder.principal_type.as_str() {
                    "role" => step("role", &format!("{}/{local}", other.label)),
                    _ => holder.principal.clone(),
                };
                let allowed = holder
                    .allowances
                    .iter()
                    .any(|m| m.decision == Decision::Allowed.as_str());
                let conditions = match allowed {
                    true => Vec::new(),
                    false => vec![format!(
                        "{principal} may call sts:AssumeRole on role:{role} only under conditions"
                    )],
                };
                let mut path = vec![principal.clone()];
                path.extend(a.path.iter().cloned());
                out.push((principal, path, conditions));
            }
        }
        Ok(out)
    }

    /// Whether the identity at the start of an assume path (a user or role of this account)
    /// may call `sts:AssumeRole` on the first role of the path, as Alibaba Cloud requires of
    /// its own identities besides the role's trust: `None` if not, else the conditions
    /// that adds. Other principals (other accounts, services, providers) are not known
    /// here and pass.
    pub(crate) fn assume_permitted(&self, path: &[String]) -> Result<Option<Vec<String>>> {
        let Some((t, name)) = path.first().and_then(|p| p.split_once(':')) else {
            return Ok(Some(Vec::new()));
        };
        if !matches!(t, "user" | "role") {
            return Ok(Some(Vec::new()));
        }
        let Some(who) = self.store.find_resource(self.sync_id, t, name)? else {
            return Ok(Some(Vec::new()));
        };
        let me = step(t, &who.name);
        let held = self.own_policies(t, &who.id, &me)?;
        Ok(self.assume_allowed(&held, &me, path))
    }

    /// [`Self::assume_permitted`] for an identity whose policies are already read.
    fn assume_allowed(
        &self,
        held: &[HeldPolicy],
        me: &str,
        path: &[String],
    ) -> Option<Vec<String>> {
        let Some(role) = path.iter().skip(1).find_map(|s| s.strip_prefix("role:")) else {
            return Some(Vec::new());
        };
        let arn = format!(
            "acs:ram::{}:role/{}",
            self.account_id.as_deref().unwrap_or("*"),
            role.to_ascii_lowercase()
        );
        match self
            .decide_held(held, "sts:AssumeRole", Target::Arn(&arn))
            .0
        {
            Decision::Allowed => Some(Vec::new()),
            Decision::Conditional => Some(vec![format!(
                "{me} may call sts:AssumeRole on role:{role} only under conditions"
            )]),
            Decision::Denied | Decision::NotAllowed => None,
        }
    }

    /// What these held policies (path, policy id) decide together for `action` on `target`,
    /// and every statement that applies.
    pub(crate) fn decide_held(
        &self,
        held: &[HeldPolicy],
        action: &str,
        target: Target<'_>,
    ) -> (Decision, Vec<Deciding>) {
        let mut statements = Vec::new();
        let mut hits = Vec::new();
        for (path, policy_id) in held {
            let Some(policy) = self.policies.get(policy_id) else {
                continue;
            };
            for hit in policy.policy.hits(action, target) {
                statements.push(Deciding {
                    path: path.clone(),
                    reason: reason(&policy.name, &hit),
                });
                hits.push(hit);
            }
        }
        (ramsync_policy_eval::decide(&hits), statements)
    }

    /// The ids of the policies that grant everything, as AdministratorAccess does.
    pub(crate) fn admin_policy_ids(&self) -> HashSet<&str> {
        self.policies
            .iter()
            .filter(|(_, h)| h.policy.allows_everything())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// A synced policy's name, by id.
    pub(crate) fn policy_name(&self, id: &str) -> Option<&str> {
        self.policies.get(id).map(|h| h.name.as_str())
    }

    /// Whether a synced policy is a Custom one (its document can be rewritten).
    pub(crate) fn is_custom(&self, id: &str) -> bool {
        self.policies.get(id).is_some_and(|h| h.custom)
    }

    /// The synced account's id, when the sync has the account.
    pub(crate) fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    /// The store and sync the answers come from.
    pub(crate) fn store(&self) -> (&'s Store, i64) {
        (self.store, self.sync_id)
    }

    /// The access graph the answers follow.
    pub(crate) fn access(&self) -> &Access<'s> {
        &self.access
    }

    /// The Allow paths of one principal whose combined decision is `decision`.
    fn allowances(
        &self,
        who: &str,
        paths: &[(Vec<String>, &str)],
        applying: &HashMap<&str, Vec<Hit<'_>>>,
        decision: Decision,
        deny_conditions: &[String],
    ) -> Vec<Allowance> {
        let mut out = Vec::new();
        for (path, policy_id) in paths {
            for hit in applying.get(policy_id).into_iter().flatten() {
                if hit.statement.effect != Effect::Allow {
                    continue;
                }
                let reason = reason(&self.policies[*policy_id].name, hit);
                let mut conditions = reason.conditions.clone();
                conditions.extend(deny_conditions.iter().cloned());
                out.push(Allowance {
                    principal: who.to_string(),
                    decision: if conditions.is_empty() && decision == Decision::Allowed {
                        Decision::Allowed.as_str().into()
                    } else {
                        Decision::Conditional.as_str().into()
                    },
                    path: path.clone(),
                    reason,
                    conditions,
                });
            }
        }
        out
    }

    /// Whether one principal may call `action` (on `resource`): its own decision with the
    /// statements that make it, and the roles it may assume that are allowed. NAME is a user
    /// (UserPrincipalName or login name), or `user:`, `group:` or `role:` and a name.
    pub fn can(&self, name: &str, action: &str, resource: Option<&str>) -> Result<Answer> {
        let (t, name) = match name.split_once(':') {
            Some((t @ ("user" | "group" | "role"), n)) => (t, n),
            _ => ("user", name),
        };
        let Some(principal) = self.store.find_resource(self.sync_id, t, name)? else {
            bail!("no {t} named {name:?} in sync run {}", self.sync_id);
        };
        let me = step(t, &principal.name);
        let target = resource.map_or(Target::Any, Target::Arn);
        let held = self.own_policies(t, &principal.id, &me)?;
        let (decision, statements) = self.decide_held(&held, action, target);
        let applying = self.applying(action, target);
        let mut through_roles = Vec::new();
        if t != "group" {
            // The roles this principal may assume, from the access graph, chains included.
            let roles = self.roles_assumable_by(t, &principal.name)?;
            for (
                role_id,
                AccessPath {
                    path: role_path,
                    conditions: trust_conditions,
                    ..
                },
            ) in roles
            {
                let Some(permission) = self.assume_allowed(&held, &me, &role_path) else {
                    continue;
                };
                let trust_conditions: Vec<String> =
                    trust_conditions.into_iter().chain(permission).collect();
                let role_step = role_path.last().cloned().unwrap_or_default();
                let role_policies = self.own_policies("role", &role_id, &role_step)?;
                let role_hits: Vec<&Hit<'_>> = role_policies
                    .iter()
                    .flat_map(|(_, p)| applying.get(p.as_str()).into_iter().flatten())
                    .collect();
                let role_decision = ramsync_policy_eval::decide(role_hits.iter().copied());
                if !role_decision.may_allow() {
                    continue;
                }
                let paths: Vec<(Vec<String>, &str)> = role_policies
                    .iter()
                    .map(|(p, id)| (p.clone(), id.as_str()))
                    .collect();
                let denies = deny_conditions(&paths, &applying, &self.policies);
                for mut a in self.allowances(&me, &paths, &applying, role_decision, &denies) {
                    let mut path = role_path.clone();
                    path.extend(a.path.into_iter().skip(1));
                    a.path = path;
                    if !trust_conditions.is_empty() {
                        let mut c = trust_conditions.clone();
                        c.extend(a.conditions);
                        a.conditions = c;
                        a.decision = Decision::Conditional.as_str().into();
                    }
                    through_roles.push(a);
                }
            }
            through_roles.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Ok(Answer {
            principal: me,
            action: action.to_string(),
            resource: resource.unwrap_or("*").to_string(),
            decision: decision.as_str().into(),
            statements,
            through_roles,
        })
    }

    /// Each role `name` may assume: its id, and the path ending at it with the trust's
    /// conditions.
    fn roles_assumable_by(&self, t: &str, name: &str) -> Result<Vec<(String, AccessPath)>> {
        let paths: Vec<AccessPath> = match t {
            "user" => self.access.of_principal(name)?,
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for p in paths {
            if p.target.starts_with("role:")
                && let Some(role) =
                    self.store
                        .find_resource(self.sync_id, "role", &p.target["role:".len()..])?
            {
                out.push((role.id, p));
            }
        }
        Ok(out)
    }

    /// For `access --actions`: the actions each Allow statement of a policy grants, as
    /// written, and the actions its Deny statements take away (prefixed `deny `).
    pub fn actions_of_policy(&self, policy_name: &str) -> Option<Vec<String>> {
        let held = self.policies.values().find(|h| h.name == policy_name)?;
        let mut out = Vec::new();
        for s in &held.policy.statements {
            for a in s.actions.written() {
                let a = match s.effect {
                    Effect::Allow => a,
                    Effect::Deny => format!("deny {a}"),
                };
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        Some(out)
    }
}

/// Conditions of the Deny statements among a principal's applying policies that could take
/// the action away (conditional Denies covering every resource), shown as `deny if ...`.
fn deny_conditions(
    paths: &[(Vec<String>, &str)],
    applying: &HashMap<&str, Vec<Hit<'_>>>,
    policies: &HashMap<String, Held>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (_, policy_id) in paths {
        for hit in applying.get(policy_id).into_iter().flatten() {
            if hit.statement.effect == Effect::Deny && hit.conditional() && hit.every_resource {
                let c: Vec<String> = hit
                    .statement
                    .conditions
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                let text = format!(
                    "denied by policy:{} (statement {}) if {}",
                    policies[*policy_id].name,
                    hit.statement.number,
                    c.join(" and ")
                );
                if !out.contains(&text) {
                    out.push(text);
                }
            }
        }
    }
    out
}
