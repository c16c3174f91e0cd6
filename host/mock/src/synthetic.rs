//! Generated tenants of any size, for benchmarks and paging tests.

use crate::tenant::*;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

impl Tenant {
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
            let count: usize = value
                .trim()
                .parse()
                .with_context(|| format!("--synthetic: {key} must be a count, got {value:?}"))?;
            // Bounded so that a typo cannot exhaust memory; past any real account's size.
            let max = if key.trim() == "users" {
                1_000_000
            } else {
                100_000
            };
            if count > max {
                bail!("--synthetic: {key}={count} is too large; at most {max}");
            }
            *slot = Some(count);
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
                    document: synthetic_document(i, is_custom),
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
                    access_keys: synthetic_keys(&account_id, i),
                    // Four in five can log on to the console; two in three have an MFA device.
                    console: (i % 5 != 4).then(|| ConsoleSpec {
                        status: if i % 40 == 7 { "Inactive" } else { "Active" }.into(),
                        password_reset_required: i % 50 == 1,
                        mfa_bind_required: i % 2 == 0,
                    }),
                    mfa_device: (i % 3 != 1).then(|| MfaDeviceSpec {
                        serial: format!("acs:ram::{account_id}:mfa/user{i:06}"),
                        activated: None,
                    }),
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
            unbound_mfa_devices: Vec::new(),
            password_policy: Default::default(),
            security_preference: Default::default(),
            root: Default::default(),
        };
        Self::from_file(file)
    }
}

/// The AccessKeys of synthetic user `i`: three in four have one, one in 25 a second
/// (active, recent); one in 20 keys is inactive; a third of first keys are old, and half of
/// those unused since long ago.
fn synthetic_keys(account_id: &str, i: usize) -> Vec<AccessKeySpec> {
    let mut keys = Vec::new();
    if i % 4 != 3 {
        keys.push(AccessKeySpec {
            id: key_id(&format!("{account_id}/user{i}/key0")),
            status: if i % 20 == 5 { "Inactive" } else { "Active" }.into(),
            created: if i.is_multiple_of(3) {
                date(i + 6000)
            } else {
                "recent".into()
            },
            // Half the old keys were last used long ago, so some are unused for 90 days.
            last_used: i.is_multiple_of(6).then(|| date(i + 9000)),
        });
    }
    if i.is_multiple_of(25) {
        keys.push(AccessKeySpec {
            id: key_id(&format!("{account_id}/user{i}/key1")),
            status: "Active".into(),
            created: "recent".into(),
            last_used: None,
        });
    }
    keys
}

/// A policy document for a synthetic policy, from a handful of shapes real accounts have, so
/// that action-level questions over a synthetic tenant have varied answers: RAM writes that
/// allow escalation, service-wide grants, one bucket's objects, everything but RAM (by a Deny
/// or by NotAction), AssumeRole, and a grant under a condition. One System policy in 20
/// allows everything, as AdministratorAccess does.
fn synthetic_document(i: usize, is_custom: bool) -> serde_json::Value {
    use serde_json::json;
    let statement = |effect: &str, action: serde_json::Value, resource: serde_json::Value| json!({"Effect": effect, "Action": action, "Resource": resource});
    let statements = if !is_custom {
        match i % 20 {
            0 => vec![statement("Allow", json!("*"), json!("*"))],
            _ => vec![statement(
                "Allow",
                json!(["ecs:Describe*", "vpc:Describe*"]),
                json!("*"),
            )],
        }
    } else {
        match (i / 2) % 8 {
            0 => vec![statement(
                "Allow",
                json!([
                    "ram:AttachPolicyToUser",
                    "ram:AttachPolicyToGroup",
                    "ram:AttachPolicyToRole"
                ]),
                json!("*"),
            )],
            1 => vec![statement("Allow", json!("ecs:*"), json!("*"))],
            2 => vec![statement(
                "Allow",
                json!(["oss:GetObject", "oss:PutObject"]),
                json!(format!("acs:oss:*:*:bucket-{i:05}/*")),
            )],
            3 => vec![
                statement("Allow", json!("*"), json!("*")),
                statement("Deny", json!("ram:*"), json!("*")),
            ],
            4 => vec![json!({"Effect": "Allow", "NotAction": "ram:*", "Resource": "*"})],
            5 => vec![statement(
                "Allow",
                json!(["ram:CreateAccessKey", "ram:UpdateLoginProfile"]),
                json!("acs:ram:*:*:user/*"),
            )],
            6 => vec![statement("Allow", json!("sts:AssumeRole"), json!("*"))],
            _ => vec![
                json!({"Effect": "Allow", "Action": "log:*", "Resource": "*",
                "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}),
            ],
        }
    };
    json!({"Version": "1", "Statement": statements})
}
