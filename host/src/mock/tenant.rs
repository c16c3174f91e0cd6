//! The tenant the local API serves: a JSON tenant file, the bundled sample, or a synthetic one.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The bundled sample tenant.
pub const SAMPLE_TENANT: &str = include_str!("../../../tests/fixtures/sample-tenant.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// The 16-digit account id.
    pub account_id: String,
    /// The account alias; user principal names end in `@<alias>.onaliyun.com`.
    pub alias: String,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub mobile_phone: String,
    #[serde(default)]
    pub comments: String,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub create_date: Option<String>,
    #[serde(default)]
    pub last_login_date: Option<String>,
}

fn active() -> String {
    "active".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub comments: String,
    #[serde(default)]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The trust policy document, as a JSON object.
    pub trust_policy: serde_json::Value,
    #[serde(default = "one_hour")]
    pub max_session_duration: u32,
    #[serde(default)]
    pub policies: Vec<String>,
}

fn one_hour() -> u32 {
    3600
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    /// `System` or `Custom`.
    #[serde(rename = "type")]
    pub policy_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub document: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub principal_name: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub frozen: bool,
    pub create_date: String,
    pub last_login_date: String,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub comments: String,
    pub create_date: String,
    /// Indexes into `Tenant::users`, in join order, with join dates.
    pub members: Vec<(usize, String)>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub arn: String,
    pub description: String,
    pub trust_policy: String,
    pub max_session_duration: u32,
    pub create_date: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub policy_type: String,
    pub description: String,
    pub document: String,
    pub create_date: String,
}

/// Where a policy is attached.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    User(usize),
    Group(usize),
    Role(usize),
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub principal: Principal,
    pub attach_date: String,
}

/// A tenant with ids assigned and references resolved.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account_id: String,
    pub alias: String,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    pub policies: Vec<Policy>,
    /// Attachments per policy index.
    pub attachments: Vec<Vec<Attachment>>,
    pub group_by_name: HashMap<String, usize>,
    pub role_by_name: HashMap<String, usize>,
}

fn digits(seed: &str, n: usize) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter()
        .take(n)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

fn date(index: usize) -> String {
    let base = time::macros::datetime!(2023-03-01 08:00:00 UTC);
    let d = base + time::Duration::hours((index as i64 * 37) % 15_000);
    d.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

impl Tenant {
    pub fn sample() -> Result<Self> {
        Self::from_json(SAMPLE_TENANT).context("the bundled sample tenant is invalid")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tenant file {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("invalid tenant file {}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let file: TenantFile = serde_json::from_str(text)?;
        Self::from_file(file)
    }

    pub fn from_file(file: TenantFile) -> Result<Self> {
        if file.account_id.len() != 16 || !file.account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account_id must be 16 digits, got {:?}", file.account_id);
        }
        if file.alias.is_empty() {
            bail!("alias must not be empty");
        }
        let account = &file.account_id;
        let domain = format!("{}.onaliyun.com", file.alias);
        let mut users = Vec::with_capacity(file.users.len());
        let mut seen = HashMap::new();
        for (i, u) in file.users.iter().enumerate() {
            if u.name.is_empty() || seen.insert(u.name.clone(), i).is_some() {
                bail!("user #{i}: name {:?} is empty or used twice", u.name);
            }
            let frozen = match u.status.as_str() {
                "active" => false,
                "frozen" | "freeze" => true,
                other => bail!(
                    "user {}: status must be active or frozen, got {other:?}",
                    u.name
                ),
            };
            users.push(User {
                id: format!("2{}", digits(&format!("{account}/user/{}", u.name), 15)),
                name: u.name.clone(),
                principal_name: format!("{}@{domain}", u.name),
                display_name: u.display_name.clone(),
                email: u.email.clone(),
                mobile_phone: u.mobile_phone.clone(),
                comments: u.comments.clone(),
                frozen,
                create_date: u.create_date.clone().unwrap_or_else(|| date(i)),
                last_login_date: u.last_login_date.clone().unwrap_or_else(|| date(i + 4000)),
            });
        }
        let mut groups = Vec::new();
        let mut group_by_name = HashMap::new();
        for (i, g) in file.groups.iter().enumerate() {
            if g.name.is_empty() || group_by_name.insert(g.name.clone(), i).is_some() {
                bail!("group #{i}: name {:?} is empty or used twice", g.name);
            }
            let hex = hex::encode(Sha256::digest(
                format!("{account}/group/{}", g.name).as_bytes(),
            ));
            groups.push(Group {
                id: format!("g-{}", &hex[..16]),
                name: g.name.clone(),
                display_name: if g.display_name.is_empty() {
                    g.name.clone()
                } else {
                    g.display_name.clone()
                },
                comments: g.comments.clone(),
                create_date: date(i + 100),
                members: Vec::new(),
            });
        }
        for (ui, u) in file.users.iter().enumerate() {
            for g in &u.groups {
                let Some(&gi) = group_by_name.get(g) else {
                    bail!("user {}: unknown group {g:?}", u.name)
                };
                groups[gi].members.push((ui, date(ui + gi + 200)));
            }
        }
        let mut roles = Vec::new();
        let mut role_by_name = HashMap::new();
        for (i, r) in file.roles.iter().enumerate() {
            if r.name.is_empty() || role_by_name.insert(r.name.clone(), i).is_some() {
                bail!("role #{i}: name {:?} is empty or used twice", r.name);
            }
            if !r.trust_policy.is_object() && !r.trust_policy.is_string() {
                bail!(
                    "role {}: trust_policy must be a JSON object (or a string, to serve it verbatim)",
                    r.name
                );
            }
            roles.push(Role {
                id: format!("3{}", digits(&format!("{account}/role/{}", r.name), 18)),
                name: r.name.clone(),
                arn: format!("acs:ram::{account}:role/{}", r.name.to_ascii_lowercase()),
                description: r.description.clone(),
                trust_policy: match &r.trust_policy {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                },
                max_session_duration: r.max_session_duration,
                create_date: date(i + 300),
            });
        }
        let mut policies = Vec::new();
        let mut policy_by_name: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in file.policies.iter().enumerate() {
            if p.policy_type != "System" && p.policy_type != "Custom" {
                bail!(
                    "policy {}: type must be System or Custom, got {:?}",
                    p.name,
                    p.policy_type
                );
            }
            if p.name.is_empty() || policy_by_name.insert(p.name.clone(), i).is_some() {
                bail!("policy #{i}: name {:?} is empty or used twice", p.name);
            }
            policies.push(Policy {
                name: p.name.clone(),
                policy_type: p.policy_type.clone(),
                description: p.description.clone(),
                document: if p.document.is_null() {
                    default_document()
                } else {
                    p.document.to_string()
                },
                create_date: date(i + 400),
            });
        }
        let mut attachments = vec![Vec::new(); policies.len()];
        let mut attach =
            |owner: &str, names: &[String], principal: Principal, seed: usize| -> Result<()> {
                for name in names {
                    let Some(&pi) = policy_by_name.get(name) else {
                        bail!("{owner}: unknown policy {name:?}")
                    };
                    attachments[pi].push(Attachment {
                        principal: principal.clone(),
                        attach_date: date(seed + pi + 500),
                    });
                }
                Ok(())
            };
        for (i, u) in file.users.iter().enumerate() {
            attach(
                &format!("user {}", u.name),
                &u.policies,
                Principal::User(i),
                i,
            )?;
        }
        for (i, g) in file.groups.iter().enumerate() {
            attach(
                &format!("group {}", g.name),
                &g.policies,
                Principal::Group(i),
                i,
            )?;
        }
        for (i, r) in file.roles.iter().enumerate() {
            attach(
                &format!("role {}", r.name),
                &r.policies,
                Principal::Role(i),
                i,
            )?;
        }
        Ok(Tenant {
            account_id: file.account_id,
            alias: file.alias,
            users,
            groups,
            roles,
            policies,
            attachments,
            group_by_name,
            role_by_name,
        })
    }

    /// A generated tenant of the given size, from a spec like
    /// `users=100000,groups=5000,roles=1000,policies=2000`. Every other policy is Custom
    /// unless `custom_policies=N` limits them; the first half of the policies is attached
    /// somewhere unless `attached_policies=N` says how many.
    pub fn synthetic(spec: &str) -> Result<Self> {
        const KEYS: &str = "users, groups, roles, policies, custom_policies or attached_policies";
        let mut sizes: BTreeMap<&str, Option<usize>> = [
            ("users", Some(1000)),
            ("groups", Some(50)),
            ("roles", Some(20)),
            ("policies", Some(100)),
            ("custom_policies", None),
            ("attached_policies", None),
        ]
        .into();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                bail!(
                    "--synthetic takes KEY=COUNT pairs like users=10000,groups=500; got {part:?}"
                );
            };
            let Some(slot) = sizes.get_mut(key.trim()) else {
                bail!("--synthetic: unknown key {key:?}; expected {KEYS}");
            };
            *slot =
                Some(value.trim().parse().with_context(|| {
                    format!("--synthetic: {key} must be a count, got {value:?}")
                })?);
        }
        let size = |k: &str| sizes[k].unwrap_or_default();
        let (users, groups, roles, policies) = (
            size("users"),
            size("groups"),
            size("roles"),
            size("policies"),
        );
        let custom = sizes["custom_policies"].unwrap_or(policies / 2);
        let attached = sizes["attached_policies"]
            .unwrap_or(policies.div_ceil(2))
            .min(policies);
        let account_id = "1000000000000001".to_string();
        let policy_specs: Vec<PolicySpec> = (0..policies)
            .map(|i| {
                let is_custom = i % 2 == 1 && i / 2 < custom;
                PolicySpec {
                    name: if is_custom {
                        format!("custom-policy-{i:05}")
                    } else {
                        format!("SystemPolicy{i:05}")
                    },
                    policy_type: if is_custom {
                        "Custom".into()
                    } else {
                        "System".into()
                    },
                    description: String::new(),
                    document: serde_json::Value::Null,
                }
            })
            .collect();
        let pick = |i: usize| -> Vec<String> {
            if attached == 0 || !i.is_multiple_of(7) {
                Vec::new()
            } else {
                vec![policy_specs[(i / 7) % attached].name.clone()]
            }
        };
        let file = TenantFile {
            account_id: account_id.clone(),
            alias: "synthetic".into(),
            users: (0..users)
                .map(|i| UserSpec {
                    name: format!("user{i:06}"),
                    display_name: format!("User {i}"),
                    email: format!("user{i:06}@example.com"),
                    mobile_phone: String::new(),
                    comments: String::new(),
                    status: if i % 10 == 9 { "frozen".into() } else { "active".into() },
                    groups: if groups == 0 {
                        Vec::new()
                    } else {
                        let mut g = vec![format!("group{:05}", i % groups)];
                        if i % 3 == 0 && groups > 1 {
                            g.push(format!("group{:05}", (i / 3 + 1) % groups));
                        }
                        // A fifth of everyone is also in the first group, so it spans pages.
                        if i % 5 == 0 {
                            g.push("group00000".to_string());
                        }
                        g.sort();
                        g.dedup();
                        g
                    },
                    policies: pick(i),
                    create_date: None,
                    last_login_date: None,
                })
                .collect(),
            groups: (0..groups)
                .map(|i| GroupSpec { name: format!("group{i:05}"), display_name: String::new(), comments: String::new(), policies: pick(i) })
                .collect(),
            roles: (0..roles)
                .map(|i| RoleSpec {
                    name: format!("role-{i:05}"),
                    description: String::new(),
                    trust_policy: serde_json::json!({"Version":"1","Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":[format!("acs:ram::{account_id}:root")]}}]}),
                    max_session_duration: 3600,
                    policies: pick(i),
                })
                .collect(),
            policies: policy_specs.clone(),
        };
        Self::from_file(file)
    }

    pub fn upn_domain(&self) -> String {
        format!("{}.onaliyun.com", self.alias)
    }
}

fn default_document() -> String {
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"}]}"#
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_tenant_loads() {
        let t = Tenant::sample().unwrap();
        assert!(t.users.len() >= 50);
        assert!(t.users.iter().any(|u| u.frozen));
        assert!(t.groups.len() >= 8);
    }

    #[test]
    fn bad_tenants_are_explained() {
        let e = Tenant::from_json(r#"{"account_id":"1","alias":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("16 digits"), "{e}");
        let e = Tenant::from_json(r#"{"account_id":"1234567890123456","alias":"a","users":[{"name":"x","display_name":"X","groups":["nope"]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown group"), "{e}");
        assert!(Tenant::from_json("{").is_err());
        assert!(Tenant::synthetic("users=abc").is_err());
        assert!(Tenant::synthetic("people=3").is_err());
    }

    #[test]
    fn synthetic_sizes() {
        let t = Tenant::synthetic("users=250,groups=7,roles=3,policies=11").unwrap();
        assert_eq!(
            (
                t.users.len(),
                t.groups.len(),
                t.roles.len(),
                t.policies.len()
            ),
            (250, 7, 3, 11)
        );
        assert!(t.groups.iter().map(|g| g.members.len()).sum::<usize>() > 250);
    }
}
