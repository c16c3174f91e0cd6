//! Effective access, read from the store with indexed queries: everything one user can do
//! (policies attached directly, through groups, and through roles it can assume, chains
//! included), and the reverse: who holds a policy, can assume a role, or is in a group.

use anyhow::{Result, bail};
use ramsync_store::{GrantRow, ResourceRow, Store, SyncRun};
use serde::Serialize;
use std::collections::HashSet;

/// One way a principal reaches something, as a path of `type:name` steps.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessPath {
    /// The first step: who has the access.
    pub principal: String,
    /// The last step: the policy, role or group reached.
    pub target: String,
    /// Every step, principal first.
    pub path: Vec<String>,
    /// Conditions on the way, for example `mfa_required` or `external_id_required` on a role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// With `access --actions`, for a path ending at a policy: the actions it allows, as
    /// written, and those it denies, prefixed `deny `.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl AccessPath {
    /// The path as one line, `a -> b -> c`, with its conditions.
    pub fn line(&self) -> String {
        let mut s = self.path.join(" -> ");
        if !self.conditions.is_empty() {
            s.push_str(&format!("  [{}]", self.conditions.join(", ")));
        }
        s
    }
}

/// An assume grant to walk from: the path and conditions that reach it, and the index of
/// where the walk started.
type Walk = (GrantRow, Vec<String>, Vec<String>, usize);

/// A role a walk reached: its name, and the path and conditions that reach it.
type ReachedRole = (String, Vec<String>, Vec<String>);

fn step(t: &str, name: &str) -> String {
    format!("{t}:{name}")
}

/// Conditions of an `assume` grant worth showing, never their values where they are secret.
fn conditions_of(g: &GrantRow) -> Vec<String> {
    let mut out = Vec::new();
    let flag = |k: &str| {
        g.attributes
            .get(k)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    if flag("external_id_required") {
        out.push(format!("{}: ExternalId required", g.resource_name));
    }
    if flag("mfa_required") {
        out.push(format!("{}: MFA required", g.resource_name));
    }
    if let Some(ip) = g.attributes.get("source_ip").and_then(|v| v.as_str()) {
        out.push(format!("{}: source IP {ip}", g.resource_name));
    }
    out
}

/// Effective-access questions over the newest complete sync of one account.
pub struct Access<'s> {
    store: &'s Store,
    sync: SyncRun,
}

impl<'s> Access<'s> {
    /// Reads from the newest complete sync of `account`.
    pub fn new(store: &'s Store, account: &str) -> Result<Self> {
        Ok(Access {
            store,
            sync: store.readable_sync(account)?,
        })
    }

    /// The sync run the answers come from.
    pub fn sync_id(&self) -> i64 {
        self.sync.id
    }

    /// The name the account's runs are recorded under.
    pub(crate) fn run_account(&self) -> &str {
        &self.sync.account
    }

    /// Whoever may assume a role, directly or through a chain of roles: paths ending at it.
    pub(crate) fn assumers_of(&self, role_id: &str, out: &mut Vec<AccessPath>) -> Result<()> {
        let Some(role) = self.store.resource(self.sync.id, "role", role_id)? else {
            return Ok(());
        };
        self.assumers(
            role_id,
            vec![step("role", &role.name)],
            Vec::new(),
            &mut HashSet::new(),
            out,
        )
    }

    /// The synced account's id, when the sync has the account.
    pub(crate) fn account_id(&self) -> Result<Option<String>> {
        Ok(self
            .store
            .query_resources(self.sync.id, Some("account"))?
            .into_iter()
            .next()
            .map(|a| a.id))
    }

    fn user(&self, name: &str) -> Result<ResourceRow> {
        match self.store.find_resource(self.sync.id, "user", name)? {
            Some(u) => Ok(u),
            None => bail!(
                "no user named {name:?} in sync run {}; give a UserPrincipalName or login name",
                self.sync.id
            ),
        }
    }

    /// Everything one user can do, each with the path that grants it.
    pub fn of_principal(&self, name: &str) -> Result<Vec<AccessPath>> {
        let user = self.user(name)?;
        self.of_user(&user, true)
    }

    /// What `user` can do, with (`through_account`) or without the paths that go through a
    /// trust in its whole account: those are the same for every user of the account, so a
    /// report over all users takes them once.
    pub fn of_user(&self, user: &ResourceRow, through_account: bool) -> Result<Vec<AccessPath>> {
        let me = step("user", &user.name);
        let sync = self.sync.id;
        let mut out = Vec::new();
        let held = self.store.grants_held_by(sync, "user", &user.id)?;
        for g in held.iter().filter(|g| g.entitlement == "attached") {
            out.push(self.path(
                &me,
                vec![me.clone(), step("policy", &g.resource_name)],
                Vec::new(),
            ));
        }
        for g in held.iter().filter(|g| g.entitlement == "member") {
            let group = step("group", &g.resource_name);
            out.push(self.path(&me, vec![me.clone(), group.clone()], Vec::new()));
            for p in self
                .store
                .grants_held_by(sync, "group", &g.resource_id)?
                .iter()
                .filter(|p| p.entitlement == "attached")
            {
                out.push(self.path(
                    &me,
                    vec![me.clone(), group.clone(), step("policy", &p.resource_name)],
                    Vec::new(),
                ));
            }
        }
        // Roles: trusted directly, or through a trust in the whole account, then chains.
        let mut queue: Vec<Walk> = Vec::new();
        for g in held.iter().filter(|g| g.entitlement == "assume") {
            queue.push((g.clone(), vec![me.clone()], Vec::new(), 0));
        }
        if through_account && let Some(account) = self.account_id()? {
            for g in self
                .store
                .grants_held_by(sync, "account", &account)?
                .iter()
                .filter(|g| g.entitlement == "assume")
            {
                queue.push((
                    g.clone(),
                    vec![me.clone(), step("account", &account)],
                    Vec::new(),
                    0,
                ));
            }
        }
        // Roles reached here, by name, for trusts in other accounts that name them.
        let reached = self.walk_roles(sync, None, &me, queue, &mut out)?;
        self.roles_in_other_accounts(user, &me, &reached, through_account, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Roles of the other accounts in this database that trust this account, this user or a
    /// role it reaches: each path crosses into that account, whose roles and policies are
    /// named `ACCOUNT/NAME` (its directory display name, else its alias).
    fn roles_in_other_accounts(
        &self,
        user: &ResourceRow,
        me: &str,
        reached: &[ReachedRole],
        through_account: bool,
        out: &mut Vec<AccessPath>,
    ) -> Result<()> {
        let Some(account) = self.account_id()? else {
            return Ok(());
        };
        let login = user.name.split('@').next().unwrap_or(&user.name);
        // Who may be named by another account's trust: (type, id as the trust has it, path).
        let mut named: Vec<(&str, String, Vec<String>, Vec<String>)> = vec![(
            "user",
            format!("acs:ram::{account}:user/{login}"),
            vec![me.to_string()],
            Vec::new(),
        )];
        if through_account {
            named.push((
                "account",
                account.clone(),
                vec![me.to_string(), step("account", &account)],
                Vec::new(),
            ));
        }
        for (role, path, conditions) in reached {
            named.push((
                "role",
                format!("acs:ram::{account}:role/{}", role.to_ascii_lowercase()),
                path.clone(),
                conditions.clone(),
            ));
        }
        for other in self.store.other_accounts(&self.sync.account)? {
            if other.account_id.as_deref() == Some(account.as_str()) {
                continue; // the same account, synced under another name
            }
            // Each role once per trusted identity it is reached from, so chains end.
            let mut queue: Vec<Walk> = Vec::new();
            for (origin, (t, id, path, conditions)) in named.iter().enumerate() {
                let mut ids = vec![id.clone()];
                if id.to_ascii_lowercase() != *id {
                    ids.push(id.to_ascii_lowercase());
                }
                for id in ids {
                    for g in self.store.grants_held_by(other.sync_id, t, &id)? {
                        if g.entitlement == "assume" {
                            queue.push((g, path.clone(), conditions.clone(), origin));
                        }
                    }
                }
            }
            self.walk_roles(other.sync_id, Some(&other.label), me, queue, out)?;
        }
        Ok(())
    }

    /// Walks the roles `queue` reaches in sync `sync`: each role, its policies, and the roles
    /// it may assume in turn, once per start of the walk (so chains end). Roles and policies
    /// of another account are named `label/NAME`. Returns each role reached, by name, with
    /// the path and conditions that reach it.
    fn walk_roles(
        &self,
        sync: i64,
        label: Option<&str>,
        me: &str,
        mut queue: Vec<Walk>,
        out: &mut Vec<AccessPath>,
    ) -> Result<Vec<ReachedRole>> {
        let named = |name: &str| match label {
            Some(l) => format!("{l}/{name}"),
            None => name.to_string(),
        };
        let mut seen = HashSet::new();
        let mut reached = Vec::new();
        while let Some((g, prefix, mut conditions, origin)) = queue.pop() {
            if !seen.insert((g.resource_id.clone(), origin)) {
                continue;
            }
            conditions.extend(conditions_of(&g).iter().map(|c| named(c)));
            let mut path = prefix;
            path.push(step("role", &named(&g.resource_name)));
            reached.push((g.resource_name.clone(), path.clone(), conditions.clone()));
            out.push(self.path(me, path.clone(), conditions.clone()));
            for p in self.store.grants_held_by(sync, "role", &g.resource_id)? {
                match p.entitlement.as_str() {
                    "attached" => {
                        let mut with_policy = path.clone();
                        with_policy.push(step("policy", &named(&p.resource_name)));
                        out.push(self.path(me, with_policy, conditions.clone()));
                    }
                    "assume" => queue.push((p, path.clone(), conditions.clone(), origin)),
                    _ => {}
                }
            }
        }
        Ok(reached)
    }

    fn path(&self, principal: &str, path: Vec<String>, conditions: Vec<String>) -> AccessPath {
        AccessPath {
            principal: principal.to_string(),
            target: path.last().cloned().unwrap_or_default(),
            path,
            conditions,
            actions: Vec::new(),
        }
    }

    /// Who holds a policy, can assume a role, or is in a group, directly or through others.
    pub fn of_resource(&self, spec: &str) -> Result<Vec<AccessPath>> {
        let Some((t, name)) = spec.split_once(':') else {
            bail!(
                "--resource takes TYPE:NAME, for example policy:AdministratorAccess or role:DeployRole; got {spec:?}"
            );
        };
        if !matches!(t, "policy" | "role" | "group") {
            bail!(
                "--resource type must be policy, role or group; got {t:?} (for a user's access use --principal)"
            );
        }
        let Some(resource) = self.store.find_resource(self.sync.id, t, name)? else {
            bail!("no {t} named {name:?} in sync run {}", self.sync.id);
        };
        let target = step(t, &resource.name);
        let mut out = Vec::new();
        match t {
            "policy" => {
                for g in self.store.grants_on(self.sync.id, "policy", &resource.id)? {
                    let holder = step(&g.principal_type, &g.principal_name);
                    out.push(self.path(&holder, vec![holder.clone(), target.clone()], Vec::new()));
                    match g.principal_type.as_str() {
                        "group" => self.members(
                            &g.principal_id,
                            vec![holder.clone(), target.clone()],
                            &mut out,
                        )?,
                        "role" => self.assumers(
                            &g.principal_id,
                            vec![holder.clone(), target.clone()],
                            Vec::new(),
                            &mut HashSet::new(),
                            &mut out,
                        )?,
                        _ => {}
                    }
                }
            }
            "role" => self.assumers(
                &resource.id,
                vec![target.clone()],
                Vec::new(),
                &mut HashSet::new(),
                &mut out,
            )?,
            _ => self.members(&resource.id, vec![target.clone()], &mut out)?,
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.dedup();
        Ok(out)
    }

    fn members(
        &self,
        group_id: &str,
        suffix: Vec<String>,
        out: &mut Vec<AccessPath>,
    ) -> Result<()> {
        for m in self
            .store
            .grants_on(self.sync.id, "group", group_id)?
            .iter()
            .filter(|m| m.entitlement == "member")
        {
            let user = step("user", &m.principal_name);
            let mut path = vec![user.clone()];
            path.extend(suffix.iter().cloned());
            out.push(self.path(&user, path, Vec::new()));
        }
        Ok(())
    }

    fn assumers(
        &self,
        role_id: &str,
        suffix: Vec<String>,
        conditions: Vec<String>,
        seen: &mut HashSet<String>,
        out: &mut Vec<AccessPath>,
    ) -> Result<()> {
        if !seen.insert(role_id.to_string()) {
            return Ok(());
        }
        for g in self
            .store
            .grants_on(self.sync.id, "role", role_id)?
            .iter()
            .filter(|g| g.entitlement == "assume")
        {
            let who = step(&g.principal_type, &g.principal_name);
            let mut path = vec![who.clone()];
            path.extend(suffix.iter().cloned());
            let mut c = conditions.clone();
            c.extend(conditions_of(g));
            out.push(self.path(&who, path.clone(), c.clone()));
            if g.principal_type == "role" {
                self.assumers(&g.principal_id, path, c, seen, out)?;
            }
        }
        Ok(())
    }
}
