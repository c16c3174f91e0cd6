//! The reports over a synced store: effective access, findings, and diffs between syncs.

mod common;

use common::*;
use ramsync::mock::{MockOptions, Tenant};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const OWN: &str = "5284719302648173";

fn upn(name: &str) -> String {
    format!("{name}@northwind.onaliyun.com")
}

fn synced_sample(dir: &tempfile::TempDir) -> String {
    let mock = Mock::sample();
    let db = dir.path().join("r.db").to_str().unwrap().to_string();
    mock.sync(&db);
    db
}

fn lines(out: &std::process::Output) -> BTreeSet<String> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn access_of_a_user_follows_groups_roles_and_chains() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let me = format!("user:{}", upn("hzhou"));
    let got = lines(&ramsync(
        &["access", "--db", &db, "--principal", "hzhou"],
        &[],
    ));
    let bg = "  [BreakGlass: MFA required, BreakGlass: source IP 203.0.113.0/24]";
    let want: BTreeSet<String> = [
        format!("{me} -> account:{OWN} -> role:BreakGlass{bg}"),
        format!("{me} -> account:{OWN} -> role:BreakGlass -> policy:northwind-break-glass{bg}"),
        format!("{me} -> group:sre-oncall"),
        format!("{me} -> group:sre-oncall -> policy:AliyunECSFullAccess"),
        format!("{me} -> group:sre-oncall -> policy:AliyunLogFullAccess"),
        format!("{me} -> group:sre-oncall -> policy:AliyunSTSAssumeRoleAccess"),
        format!("{me} -> role:DeployRole"),
        format!("{me} -> role:DeployRole -> policy:AliyunContainerServiceFullAccess"),
        format!("{me} -> role:DeployRole -> policy:northwind-deploy"),
        format!("{me} -> role:DeployRole -> role:AuditReader"),
        format!("{me} -> role:DeployRole -> role:AuditReader -> policy:ReadOnlyAccess"),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);

    let json = json_lines(&ramsync(
        &[
            "access",
            "--db",
            &db,
            "--principal",
            &upn("hzhou"),
            "--json",
        ],
        &[],
    ));
    assert_eq!(json.len(), want.len());
    assert!(
        json.iter().all(|p| p["principal"] == me.as_str()
            && p["path"].is_array()
            && p["target"].is_string())
    );

    // A user denied by the trust policy does not get the role.
    let ihe = lines(&ramsync(
        &["access", "--db", &db, "--principal", "ihe"],
        &[],
    ));
    assert!(!ihe.iter().any(|l| l.contains("DeployRole")), "{ihe:?}");

    let out = ramsync(&["access", "--db", &db, "--principal", "nobody-here"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no user named \"nobody-here\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn who_holds_a_policy_or_can_assume_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let expected = expected_sample();
    let got = lines(&ramsync(
        &[
            "access",
            "--db",
            &db,
            "--resource",
            "policy:AdministratorAccess",
        ],
        &[],
    ));
    let p = "policy:AdministratorAccess";
    let mut want: BTreeSet<String> = [
        format!("group:admins -> {p}"),
        format!("role:CrossAccountOps -> {p}"),
        format!("account:acs:ram::1122334455667788:root -> role:CrossAccountOps -> {p}"),
        format!("user:acs:ram::1122334455667788:user/oncall-bot -> role:CrossAccountOps -> {p}"),
        format!("role:OktaAdmins -> {p}"),
        format!("identity-provider:acs:ram::{OWN}:saml-provider/okta -> role:OktaAdmins -> {p}"),
    ]
    .into_iter()
    .collect();
    for (group, user) in &expected.members {
        if group == "admins" {
            want.insert(format!("user:{user} -> group:admins -> {p}"));
        }
    }
    assert_eq!(got, want);

    let got = lines(&ramsync(
        &["access", "--db", &db, "--resource", "role:AuditReader"],
        &[],
    ));
    let want: BTreeSet<String> = [
        "role:DeployRole -> role:AuditReader".to_string(),
        format!(
            "user:{} -> role:DeployRole -> role:AuditReader",
            upn("ci-deployer")
        ),
        format!(
            "user:{} -> role:DeployRole -> role:AuditReader",
            upn("hzhou")
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);

    for (bad, message) in [
        ("policy:NoSuchPolicy", "no policy named"),
        ("bogus", "TYPE:NAME"),
        ("user:x", "--principal"),
    ] {
        let out = ramsync(&["access", "--db", &db, "--resource", bad], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(message), "{bad}: {}", stderr(&out));
    }
}

/// `who-can` as (principal, decision, path line) triples.
fn who_can(db: &str, args: &[&str]) -> BTreeSet<(String, String, String)> {
    let mut all = vec!["who-can", "--db", db, "--json"];
    all.extend(args);
    let out = ramsync(&all, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    json_lines(&out)
        .iter()
        .map(|a| {
            let path: Vec<&str> = a["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            (
                a["principal"].as_str().unwrap().to_string(),
                a["decision"].as_str().unwrap().to_string(),
                format!(
                    "{} (statement {})",
                    path.join(" -> "),
                    a["reason"]["statement"]
                ),
            )
        })
        .collect()
}

#[test]
fn who_can_an_action_through_groups_roles_and_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let got = who_can(&db, &["ram:AttachPolicyToUser"]);
    let admin = "policy:AdministratorAccess (statement 1)";
    let glass = "policy:northwind-break-glass (statement 1)";
    let t = |p: &str, d: &str, path: String| (p.to_string(), d.to_string(), path);
    let mut want: BTreeSet<_> = [
        t(
            "group:admins",
            "allowed",
            format!("group:admins -> {admin}"),
        ),
        t(
            "role:CrossAccountOps",
            "allowed",
            format!("role:CrossAccountOps -> {admin}"),
        ),
        t(
            "account:acs:ram::1122334455667788:root",
            "allowed",
            format!("account:acs:ram::1122334455667788:root -> role:CrossAccountOps -> {admin}"),
        ),
        t(
            "user:acs:ram::1122334455667788:user/oncall-bot",
            "allowed",
            format!(
                "user:acs:ram::1122334455667788:user/oncall-bot -> role:CrossAccountOps -> {admin}"
            ),
        ),
        t(
            "role:OktaAdmins",
            "allowed",
            format!("role:OktaAdmins -> {admin}"),
        ),
        t(
            &format!("identity-provider:acs:ram::{OWN}:saml-provider/okta"),
            "allowed",
            format!(
                "identity-provider:acs:ram::{OWN}:saml-provider/okta -> role:OktaAdmins -> {admin}"
            ),
        ),
        t(
            "role:BreakGlass",
            "allowed",
            format!("role:BreakGlass -> {glass}"),
        ),
        // The account's own identities reach BreakGlass only with MFA from one range.
        t(
            "account:northwind",
            "conditional",
            format!("account:northwind -> role:BreakGlass -> {glass}"),
        ),
        t(
            &format!("user:{}", upn("lgao")),
            "allowed",
            format!("user:{} -> {glass}", upn("lgao")),
        ),
    ]
    .into_iter()
    .collect();
    for (group, user) in &expected_sample().members {
        if group == "admins" {
            want.insert(t(
                &format!("user:{user}"),
                "allowed",
                format!("user:{user} -> group:admins -> {admin}"),
            ));
        }
    }
    assert_eq!(got, want);

    // A read is allowed far more widely: ReadOnlyAccess's `*:List*` reaches the auditors.
    let readers = who_can(&db, &["ram:ListUsers"]);
    assert!(readers.contains(&t(
        "group:auditors",
        "allowed",
        "group:auditors -> policy:ReadOnlyAccess (statement 1)".into()
    )));
    // ... but not a write.
    assert!(
        !who_can(&db, &["oss:PutObject"])
            .iter()
            .any(|(p, _, _)| p == "group:auditors")
    );

    // The table shows the conditions of the trust on the way.
    let table = stdout(&ramsync(
        &["who-can", "--db", &db, "ram:AttachPolicyToUser"],
        &[],
    ));
    assert!(
        table.contains("conditional  account:northwind -> role:BreakGlass -> policy:northwind-break-glass (statement 1)  [BreakGlass: MFA required; BreakGlass: source IP 203.0.113.0/24]"),
        "{table}"
    );

    // can: allowed as itself through a group, and the statement that decides it.
    let answer = &json_lines(&ramsync(
        &[
            "can",
            "--db",
            &db,
            "--principal",
            "hzhou",
            "ecs:DeleteInstance",
            "--json",
        ],
        &[],
    ))[0];
    assert_eq!(answer["decision"], "allowed");
    assert_eq!(
        answer["statements"][0]["policy"],
        "policy:AliyunECSFullAccess"
    );
    assert_eq!(answer["statements"][0]["actions"][0], "ecs:*");
    // Not allowed RAM writes as itself, but through a role it may assume, under conditions.
    let answer = &json_lines(&ramsync(
        &[
            "can",
            "--db",
            &db,
            "--principal",
            "hzhou",
            "ram:AttachPolicyToUser",
            "--json",
        ],
        &[],
    ))[0];
    assert_eq!(answer["decision"], "not allowed");
    let roles: Vec<&Value> = answer["through_roles"].as_array().unwrap().iter().collect();
    assert_eq!(roles.len(), 1, "{answer}");
    assert_eq!(roles[0]["decision"], "conditional");
    assert_eq!(
        roles[0]["path"],
        serde_json::json!([
            format!("user:{}", upn("hzhou")),
            format!("account:{OWN}"),
            "role:BreakGlass",
            "policy:northwind-break-glass"
        ])
    );

    // access --actions: each policy's actions as written.
    let out = stdout(&ramsync(
        &["access", "--db", &db, "--principal", "hzhou", "--actions"],
        &[],
    ));
    assert!(
        out.contains(&format!(
            "user:{} -> role:DeployRole -> policy:northwind-deploy\n    actions: ecs:*, slb:*, cr:Pull*, ram:AttachPolicyToRole, ram:DetachPolicyFromRole",
            upn("hzhou")
        )),
        "{out}"
    );

    // Bad arguments exit 2 with what is wrong.
    for (args, message) in [
        (
            vec!["who-can", "--db", &db, "AttachPolicyToUser"],
            "SERVICE:ACTION",
        ),
        (
            vec![
                "who-can",
                "--db",
                &db,
                "oss:GetObject",
                "--resource",
                "mybucket",
            ],
            "ARN",
        ),
        (vec!["can", "--db", &db, "ram:ListUsers"], "--principal"),
    ] {
        let out = ramsync(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn an_explicit_deny_a_resource_and_an_unreadable_document() {
    // The sample tenant, with alice (an admin) also holding a policy that denies RAM
    // attachments, the legacy OSS policy attached to chu, and a broken document on dli.
    let mut tenant: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/sample-tenant.json")).unwrap(),
    )
    .unwrap();
    let policies = tenant["policies"].as_array_mut().unwrap();
    policies.push(
        serde_json::json!({"name": "no-ram-attach", "type": "Custom",
        "document": {"Version": "1", "Statement": [
            {"Effect": "Deny", "Action": ["ram:Attach*"], "Resource": "*"}]}}),
    );
    policies.push(serde_json::json!({"name": "typo", "type": "Custom",
        "document": {"Version": "1", "Statement": [{"Effect": "Alow", "Action": "*", "Resource": "*"}]}}));
    let users = tenant["users"].as_array_mut().unwrap();
    let mut attach = |name: &str, policy: &str| {
        let user = users.iter_mut().find(|u| u["name"] == name).unwrap();
        let list = user
            .as_object_mut()
            .unwrap()
            .entry("policies")
            .or_insert(serde_json::json!([]));
        list.as_array_mut().unwrap().push(policy.into());
    };
    attach("alice.wang", "no-ram-attach");
    attach("chu", "northwind-legacy-s3-sync");
    attach("dli", "typo");
    let mock = Mock::start(MockOptions::with_tenant(
        Tenant::from_json(&tenant.to_string()).unwrap(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db").to_str().unwrap().to_string();
    mock.sync(&db);

    let alice = format!("user:{}", upn("alice.wang"));
    let got = who_can(&db, &["ram:AttachPolicyToUser"]);
    assert!(!got.iter().any(|(p, _, _)| *p == alice), "{got:?}");
    assert!(
        got.iter()
            .any(|(p, _, _)| *p == format!("user:{}", upn("mchen")))
    );
    // Only attachments are denied to her.
    assert!(
        who_can(&db, &["ram:CreateUser"])
            .iter()
            .any(|(p, _, _)| *p == alice)
    );
    let answer = &json_lines(&ramsync(
        &[
            "can",
            "--db",
            &db,
            "--principal",
            "alice.wang",
            "ram:AttachPolicyToUser",
            "--json",
        ],
        &[],
    ))[0];
    assert_eq!(answer["decision"], "denied");
    let deny = answer["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["effect"] == "Deny")
        .unwrap();
    assert_eq!(deny["policy"], "policy:no-ram-attach");
    assert_eq!(
        deny["path"],
        serde_json::json!([alice, "policy:no-ram-attach"])
    );

    // A resource: the legacy policy covers acs:oss:*:*:legacy-* only.
    let chu = format!("user:{}", upn("chu"));
    let on = |arn: &str| {
        who_can(&db, &["oss:PutObject", "--resource", arn])
            .into_iter()
            .any(|(p, _, _)| p == chu)
    };
    assert!(on(&format!(
        "acs:oss:cn-shanghai:{OWN}:legacy-exports/2024.csv"
    )));
    assert!(!on(&format!("acs:oss:cn-shanghai:{OWN}:finance/2024.csv")));

    // The broken document is named on stderr and left out; the answer is still given.
    let out = ramsync(&["who-can", "--db", &db, "ram:ListUsers"], &[]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("policy:typo was left out: its document does not parse: statement 1: Effect must be Allow or Deny"),
        "{}",
        stderr(&out)
    );
}

/// A small account for one escalation rule: an admin (through group admins), an admin role,
/// a bystander who can read everything, and the attacker: the user `attacker`, or with
/// `as_role` the role `OpsRole` (which only the user `attacker` may assume), holding `esc`,
/// a policy allowing `action` on `resource`, and with `deny` also a policy denying it.
fn escalation_tenant(
    action: &str,
    resource: &str,
    as_role: bool,
    deny: bool,
    deny_assume: bool,
) -> Tenant {
    const ACCOUNT: &str = "1234567890123456";
    let mut attacker_policies = vec!["esc"];
    if deny {
        attacker_policies.push("no-esc");
    }
    // The user may call sts:AssumeRole, unless `deny_assume` takes it away.
    let mut user_policies = vec!["AliyunSTSAssumeRoleAccess"];
    if deny_assume {
        user_policies.push("no-assume");
    }
    let (user_policies, role_policies) = match as_role {
        false => {
            user_policies.extend(attacker_policies);
            (serde_json::json!(user_policies), serde_json::json!([]))
        }
        true => (
            serde_json::json!(user_policies),
            serde_json::json!(attacker_policies),
        ),
    };
    let trust = |principal: Value| {
        serde_json::json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]})
    };
    let allow = |effect: &str| {
        serde_json::json!({"Version": "1", "Statement": [
            {"Effect": effect, "Action": action, "Resource": resource}]})
    };
    let tenant = serde_json::json!({
        "account_id": ACCOUNT,
        "alias": "esc",
        "users": [
            {"name": "boss", "display_name": "Boss", "groups": ["admins"]},
            {"name": "attacker", "display_name": "Attacker", "groups": ["team"],
             "policies": user_policies},
            {"name": "bystander", "display_name": "Bystander", "groups": ["readers"]}
        ],
        "groups": [
            {"name": "admins", "policies": ["AdministratorAccess"]},
            {"name": "readers", "policies": ["ReadOnlyAccess"]},
            {"name": "team"}
        ],
        "roles": [
            {"name": "AdminRole", "policies": ["AdministratorAccess"],
             "trust_policy": trust(serde_json::json!({"Service": ["ecs.aliyuncs.com"]}))},
            {"name": "OpsRole", "policies": role_policies,
             "trust_policy": trust(serde_json::json!({"RAM": [format!("acs:ram::{ACCOUNT}:user/attacker")]}))}
        ],
        "policies": [
            {"name": "AdministratorAccess", "type": "System"},
            {"name": "ReadOnlyAccess", "type": "System"},
            {"name": "esc", "type": "Custom", "document": allow("Allow")},
            {"name": "no-esc", "type": "Custom", "document": allow("Deny")},
            {"name": "AliyunSTSAssumeRoleAccess", "type": "System"},
            {"name": "no-assume", "type": "Custom", "document": {"Version": "1", "Statement": [
                {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]}}
        ]
    });
    Tenant::from_json(&tenant.to_string()).unwrap()
}

/// Syncs `tenant` into `db` (the credential report ready at once) and returns its
/// privilege-escalation findings, each checked to be high, as `TYPE:NAME` and evidence.
fn escalation_findings(tenant: Tenant, db: &str) -> Vec<(String, String)> {
    let mut options = MockOptions::with_tenant(tenant);
    options.report_generation = std::time::Duration::ZERO;
    Mock::start(options).sync(db);
    json_lines(&ramsync(&["findings", "--db", db, "--json"], &[]))
        .iter()
        .filter(|f| f["code"] == "privilege-escalation")
        .map(|f| {
            assert_eq!(f["severity"], "high");
            (
                format!(
                    "{}:{}",
                    f["resource_type"].as_str().unwrap(),
                    f["resource_name"].as_str().unwrap()
                ),
                f["evidence"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn privilege_escalation_one_path_per_rule_and_a_deny_removes_it() {
    /// The findings a case expects: the resource, and how its evidence begins.
    type Findings<'a> = &'a [(&'a str, &'a str)];
    let dir = tempfile::tempdir().unwrap();
    let attacker = "user:attacker@esc.onaliyun.com";
    // (action, the attacker is the role, the findings as resource and evidence)
    let cases: &[(&str, bool, Findings<'_>)] = &[
        (
            "ram:AttachPolicyToUser",
            false,
            &[(
                attacker,
                "may call ram:AttachPolicyToUser on itself through user:attacker@esc.onaliyun.com -> policy:esc (statement 1), so it can attach AdministratorAccess to itself",
            )],
        ),
        (
            "ram:AttachPolicyToGroup",
            false,
            &[(
                attacker,
                "may call ram:AttachPolicyToGroup on group:team through user:attacker@esc.onaliyun.com -> policy:esc (statement 1), so it can attach AdministratorAccess to a group it is in",
            )],
        ),
        (
            "ram:CreatePolicyVersion",
            false,
            &[(
                attacker,
                "may call ram:CreatePolicyVersion on policy:esc through user:attacker@esc.onaliyun.com -> policy:esc (statement 1), so it can write a new default version of a policy it holds that allows everything",
            )],
        ),
        (
            "ram:SetDefaultPolicyVersion",
            false,
            &[(
                attacker,
                "may call ram:SetDefaultPolicyVersion on policy:esc",
            )],
        ),
        (
            "ram:AddUserToGroup",
            false,
            &[(
                attacker,
                "may call ram:AddUserToGroup on group:admins (admin) through",
            )],
        ),
        (
            "ram:CreateAccessKey",
            false,
            &[(
                attacker,
                "may call ram:CreateAccessKey on user:boss@esc.onaliyun.com",
            )],
        ),
        (
            "ram:CreateLoginProfile",
            false,
            &[(
                attacker,
                "may call ram:CreateLoginProfile on user:boss@esc.onaliyun.com",
            )],
        ),
        (
            "ram:UpdateLoginProfile",
            false,
            &[(
                attacker,
                "may call ram:UpdateLoginProfile on user:boss@esc.onaliyun.com",
            )],
        ),
        (
            "ram:UpdateRole",
            false,
            &[(
                attacker,
                "may call ram:UpdateRole on role:AdminRole (admin) through user:attacker@esc.onaliyun.com -> policy:esc (statement 1), so it can rewrite that role's trust policy",
            )],
        ),
        (
            "ram:AttachPolicyToRole",
            false,
            &[(
                attacker,
                "may call ram:AttachPolicyToRole on role:OpsRole it may assume through user:attacker@esc.onaliyun.com -> policy:esc (statement 1)",
            )],
        ),
        // The role may attach a policy to itself; the user who may assume it, through it.
        (
            "ram:AttachPolicyToRole",
            true,
            &[
                (
                    "role:OpsRole",
                    "may call ram:AttachPolicyToRole on itself through role:OpsRole -> policy:esc (statement 1)",
                ),
                (
                    attacker,
                    "may assume role:OpsRole through user:attacker@esc.onaliyun.com -> role:OpsRole (sts:AssumeRole), and role:OpsRole may call ram:AttachPolicyToRole on itself",
                ),
            ],
        ),
    ];
    for (i, (action, as_role, want)) in cases.iter().enumerate() {
        for deny in [false, true] {
            let db = dir.path().join(format!("esc-{i}-{deny}.db"));
            let got = escalation_findings(
                escalation_tenant(action, "*", *as_role, deny, false),
                db.to_str().unwrap(),
            );
            if deny {
                assert!(got.is_empty(), "{action}: a Deny leaves {got:?}");
                continue;
            }
            assert_eq!(got.len(), want.len(), "{action}: {got:?}");
            for (resource, evidence) in *want {
                assert!(
                    got.iter()
                        .any(|(r, e)| r == resource && e.starts_with(evidence)),
                    "{action}: no {resource} {evidence:?} in {got:?}"
                );
            }
        }
    }
}

#[test]
fn privilege_escalation_to_another_principals_access() {
    // The attacker may reset only the bystander's password: not an admin, but it holds
    // ReadOnlyAccess, which the attacker lacks.
    let action = "ram:UpdateLoginProfile";
    let resource = "acs:ram:*:1234567890123456:user/bystander";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lateral.db");
    let got: Vec<String> = escalation_findings(
        escalation_tenant(action, resource, false, false, false),
        db.to_str().unwrap(),
    )
    .into_iter()
    .map(|(resource, evidence)| format!("{} {evidence}", resource.trim_start_matches("user:")))
    .collect();
    assert_eq!(
        got,
        [
            "attacker@esc.onaliyun.com may call ram:UpdateLoginProfile on user:bystander@esc.onaliyun.com (holds policy:ReadOnlyAccess it lacks) through user:attacker@esc.onaliyun.com -> policy:esc (statement 1), so it can reset that user's console password and log on as it"
        ]
    );
}

#[test]
fn assuming_an_escalating_role_needs_sts_assume_role_of_ones_own() {
    // OpsRole may attach policies to itself and trusts the attacker, but the attacker's own
    // policies deny sts:AssumeRole: only the role escalates.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("assume.db");
    let db = db.to_str().unwrap();
    let got: Vec<String> = escalation_findings(
        escalation_tenant("ram:AttachPolicyToRole", "*", true, false, true),
        db,
    )
    .into_iter()
    .map(|(resource, _)| resource)
    .collect();
    assert_eq!(got, ["role:OpsRole"]);
    // can agrees: the role would be allowed, but the user may not assume it.
    let answer = &json_lines(&ramsync(
        &[
            "can",
            "--db",
            db,
            "--principal",
            "attacker",
            "ram:AttachPolicyToRole",
            "--json",
        ],
        &[],
    ))[0];
    assert_eq!(answer["decision"], "not allowed");
    assert!(answer.get("through_roles").is_none(), "{answer}");
}

#[test]
fn findings_on_the_sample_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let findings = json_lines(&ramsync(&["findings", "--db", &db, "--json"], &[]));
    for f in &findings {
        for field in [
            "code",
            "severity",
            "resource_type",
            "resource_name",
            "evidence",
        ] {
            assert!(f[field].is_string(), "{field} in {f}");
        }
    }
    let of = |code: &str| -> BTreeSet<String> {
        findings
            .iter()
            .filter(|f| f["code"] == code)
            .map(|f| {
                format!(
                    "{}:{}",
                    f["resource_type"].as_str().unwrap(),
                    f["resource_name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let set =
        |items: &[&str]| -> BTreeSet<String> { items.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        of("cross-account-trust-without-external-id"),
        set(&["role:CrossAccountOps"])
    );
    assert_eq!(
        findings
            .iter()
            .filter(|f| f["code"] == "cross-account-trust-without-external-id")
            .count(),
        2,
        "its root and its user"
    );
    assert_eq!(
        of("wildcard-or-account-principal"),
        set(&[
            "role:BreakGlass",
            "role:CrossAccountOps",
            "role:VendorByocAccess"
        ])
    );
    let frozen: BTreeSet<String> = expected_sample()
        .users
        .iter()
        .filter(|(_, s)| *s == "frozen")
        .map(|(u, _)| format!("user:{u}"))
        .collect();
    assert_eq!(of("frozen-user-with-access"), frozen);
    assert_eq!(of("empty-group"), set(&["group:legacy-ops"]));
    // DeployRole may attach policies to roles, itself included; so may whoever assumes it
    // (ihe is denied by the trust policy).
    assert_eq!(
        of("privilege-escalation"),
        set(&[
            "role:DeployRole",
            &format!("user:{}", upn("ci-deployer")),
            &format!("user:{}", upn("hzhou")),
        ])
    );
    assert_eq!(
        of("unused-custom-policy"),
        set(&["policy:northwind-legacy-s3-sync"])
    );
    assert_eq!(
        of("unreadable-trust-policy"),
        set(&["role:LegacyBrokenTrust"])
    );
    let direct: BTreeSet<String> = expected_sample()
        .attachments
        .iter()
        .filter(|(_, t, _)| t == "user")
        .map(|(_, _, u)| format!("user:{u}"))
        .collect();
    assert_eq!(of("user-policy-attached-directly"), direct);
    let admins = of("admin-access");
    for must in [
        "group:admins",
        "role:CrossAccountOps",
        "role:OktaAdmins",
        "role:BreakGlass",
    ] {
        assert!(admins.contains(must), "{must} missing from {admins:?}");
    }
    for (group, user) in &expected_sample().members {
        if group == "admins" {
            assert!(admins.contains(&format!("user:{user}")));
        }
    }
    credential_findings_are_exact(&db, &findings);
    account_findings_are_exact(&db, &findings);

    // The table never shows an ExternalId value; severities come most severe first.
    let table = stdout(&ramsync(&["findings", "--db", &db], &[]));
    assert!(!table.contains("nw-7f3c2a91"));
    assert!(
        table.lines().nth(1).unwrap().starts_with("critical"),
        "{table}"
    );
}

/// Every finding of `codes`, as (severity, code, TYPE:NAME, evidence).
fn coded(findings: &[Value], codes: &[&str]) -> BTreeSet<(String, String, String, String)> {
    findings
        .iter()
        .filter(|f| codes.contains(&f["code"].as_str().unwrap()))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (
                s("severity"),
                s("code"),
                format!("{}:{}", s("resource_type"), s("resource_name")),
                s("evidence"),
            )
        })
        .collect()
}

const ACCOUNT_CODES: &[&str] = &[
    "weak-password-policy",
    "root-access-key",
    "root-without-mfa",
    "console-access-unused",
];

/// The sample tenant's password policy, root identity and idle console users, as the
/// fixture sets them: each weak setting once, the root's AccessKey from the credential
/// report, and the two console users not logged on for 90 days.
fn account_findings_are_exact(db: &str, findings: &[Value]) {
    let synced = last_sync_started(db);
    let row = |severity: &str, code: &str, at: &str, evidence: &str| {
        (
            severity.to_string(),
            code.to_string(),
            at.to_string(),
            evidence.to_string(),
        )
    };
    let weak = |evidence: &str| {
        row(
            "medium",
            "weak-password-policy",
            "account:northwind",
            evidence,
        )
    };
    let bzhao_days = (synced - parse_date("2025-01-10T09:00:00Z")).whole_days();
    let sample = Tenant::sample().unwrap();
    let ewu_created = sample
        .users
        .iter()
        .find(|u| u.name == "ewu")
        .unwrap()
        .create_date
        .clone();
    let ewu_days = (synced - parse_date(&ewu_created)).whole_days();
    let want = BTreeSet::from([
        weak("MinimumPasswordLength is 8; CIS Alibaba Cloud 1.11 asks for 14 or more"),
        weak(
            "RequireSymbols is false: passwords need not contain a symbol (CIS Alibaba Cloud 1.9)",
        ),
        weak(
            "MaxPasswordAge is 0: passwords never expire; CIS Alibaba Cloud v1.0.0 1.13 asks for 90 days or less",
        ),
        weak(
            "PasswordReusePrevention is 0; CIS Alibaba Cloud 1.12 asks that the last 5 passwords may not be reused",
        ),
        row(
            "critical",
            "root-access-key",
            "account:northwind",
            "the root identity has an active AccessKey, created 2021-04-02T03:00:00Z, last used 2025-11-20T10:00:00Z (from the credential report); delete it and use RAM identities",
        ),
        row(
            "medium",
            "console-access-unused",
            &format!("user:{}", upn("bzhao")),
            &format!(
                "console logon is enabled, but the user last logged on {bzhao_days} days before the sync (2025-01-10T09:00:00Z); disable console logon if it is not needed"
            ),
        ),
        row(
            "medium",
            "console-access-unused",
            &format!("user:{}", upn("ewu")),
            &format!(
                "console logon is enabled, but the user has never logged on in the {ewu_days} days since it was created ({ewu_created}); disable console logon if it is not needed"
            ),
        ),
    ]);
    assert_eq!(coded(findings, ACCOUNT_CODES), want);
}

#[test]
fn a_strong_password_policy_passes_and_a_root_without_mfa_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("strong.db");
    let db = db.to_str().unwrap();
    let tenant = json!({
        "account_id": "4000000000000001",
        "alias": "strong",
        "users": [{"name": "ops", "display_name": "Ops", "console": {}, "last_login_date": "recent"}],
        "password_policy": {
            "minimum_password_length": 14,
            "require_symbols": true,
            "max_password_age": 90,
            "password_reuse_prevention": 5,
            "max_login_attempts": 5
        },
        "root": {"mfa": false}
    });
    let mut options = MockOptions::with_tenant(Tenant::from_json(&tenant.to_string()).unwrap());
    options.report_generation = std::time::Duration::ZERO;
    Mock::start(options).sync(db);
    let findings = json_lines(&ramsync(&["findings", "--db", db, "--json"], &[]));
    assert_eq!(
        coded(&findings, ACCOUNT_CODES),
        BTreeSet::from([(
            "high".to_string(),
            "root-without-mfa".to_string(),
            "account:strong".to_string(),
            "the root identity has no MFA device (from the credential report); CIS Alibaba Cloud 1.3".to_string(),
        )])
    );
    // Each weak setting on its own is one finding naming it.
    let weak = json!({
        "account_id": "4000000000000002",
        "alias": "weak",
        "password_policy": {
            "minimum_password_length": 14,
            "require_uppercase_characters": false,
            "require_lowercase_characters": false,
            "require_numbers": false,
            "require_symbols": true,
            "max_password_age": 91,
            "password_reuse_prevention": 4,
            "max_login_attempts": 0
        }
    });
    let db = dir.path().join("weak.db");
    let db = db.to_str().unwrap();
    let mut options = MockOptions::with_tenant(Tenant::from_json(&weak.to_string()).unwrap());
    options.report_generation = std::time::Duration::ZERO;
    Mock::start(options).sync(db);
    let findings = json_lines(&ramsync(&["findings", "--db", db, "--json"], &[]));
    let evidence: BTreeSet<String> = coded(&findings, ACCOUNT_CODES)
        .into_iter()
        .map(|(_, code, _, evidence)| format!("{code}: {evidence}"))
        .collect();
    assert_eq!(
        evidence,
        BTreeSet::from([
            "weak-password-policy: RequireUppercaseCharacters is false: passwords need not contain an uppercase letter (CIS Alibaba Cloud 1.7)".to_string(),
            "weak-password-policy: RequireLowercaseCharacters is false: passwords need not contain a lowercase letter (CIS Alibaba Cloud 1.8)".to_string(),
            "weak-password-policy: RequireNumbers is false: passwords need not contain a number (CIS Alibaba Cloud 1.10)".to_string(),
            "weak-password-policy: MaxPasswordAge is 91 days; CIS Alibaba Cloud v1.0.0 1.13 asks for 90 or less".to_string(),
            "weak-password-policy: PasswordReusePrevention is 4; CIS Alibaba Cloud 1.12 asks that the last 5 passwords may not be reused".to_string(),
            "weak-password-policy: MaxLoginAttemps is 0: failed logons never lock the user out; CIS Alibaba Cloud 1.14 asks for a lockout after 5 or fewer".to_string(),
        ])
    );
}

/// The console, MFA and AccessKey findings, computed from the fixture: every field of every
/// one, the ages measured against the start of the sync.
fn credential_findings_are_exact(db: &str, findings: &[Value]) {
    let expected = expected_sample();
    let synced = last_sync_started(db);
    let frozen = |upn: &str| expected.users[upn] == "frozen";
    let row = |severity: &str, code: &str, upn: &str, evidence: String| {
        (
            severity.to_string(),
            code.to_string(),
            "user".to_string(),
            upn.to_string(),
            evidence,
        )
    };
    let mut want = BTreeSet::new();
    for upn in expected.users.keys() {
        if expected.console_access(upn) && !expected.mfa_enabled(upn) {
            let mut evidence =
                "console logon is enabled with a password alone: no MFA device is bound"
                    .to_string();
            if expected.login_profiles[upn].2 {
                evidence.push_str("; MFA binding is required at the next logon");
            }
            if frozen(upn) {
                evidence.push_str("; the user is frozen");
            }
            want.insert(row("high", "console-without-mfa", upn, evidence));
        }
    }
    let last_used = &expected.key_last_used;
    let mut old_keys = 0;
    for (upn, keys) in expected.active_keys() {
        let note = |what: &str| match frozen(&upn) {
            true => format!("; the user is frozen, but the API still reports {what} active"),
            false => String::new(),
        };
        for (id, created) in &keys {
            if created == "recent" {
                continue;
            }
            let age = synced - parse_date(created);
            if age > time::Duration::days(90) {
                old_keys += 1;
                want.insert(row(
                    "medium",
                    "access-key-older-than-90-days",
                    &upn,
                    format!(
                        "AccessKey {id} is active and {} days old at the sync (created {created}); rotate it{}",
                        age.whole_days(),
                        note("the key")
                    ),
                ));
            }
        }
        for (id, created) in &keys {
            // `last_used` as the fixture has it: absent means used a day before the run.
            let evidence = match last_used.get(id).map(String::as_str) {
                None => continue,
                Some("never") if created == "recent" => continue,
                Some("never") => {
                    let age = synced - parse_date(created);
                    format!(
                        "AccessKey {id} is active but was never used in the {} days since it was created ({created}); disable it if nothing needs it{}",
                        age.whole_days(),
                        note("the key")
                    )
                }
                Some(used) => format!(
                    "AccessKey {id} is active but was last used {} days before the sync ({used}); disable it if nothing needs it{}",
                    (synced - parse_date(used)).whole_days(),
                    note("the key")
                ),
            };
            want.insert(row("medium", "access-key-unused", &upn, evidence));
        }
        if keys.len() > 1 {
            let ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
            want.insert(row(
                "low",
                "multiple-active-access-keys",
                &upn,
                format!(
                    "{} active AccessKeys: {}{}",
                    keys.len(),
                    ids.join(", "),
                    note("them")
                ),
            ));
        }
    }
    let codes = [
        "console-without-mfa",
        "access-key-older-than-90-days",
        "multiple-active-access-keys",
        "access-key-unused",
    ];
    let got: BTreeSet<(String, String, String, String, String)> = findings
        .iter()
        .filter(|f| codes.contains(&f["code"].as_str().unwrap()))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (
                s("severity"),
                s("code"),
                s("resource_type"),
                s("resource_name"),
                s("evidence"),
            )
        })
        .collect();
    assert_eq!(got, want);
    // The fixture exercises each rule, frozen users included; inactive and recent keys
    // are not reported.
    for code in codes {
        assert!(
            want.iter().filter(|w| w.1 == code).count() >= 3,
            "{code}: {want:?}"
        );
    }
    assert!(old_keys >= 5);
    assert!(want.iter().any(|w| w.4.contains("the user is frozen")));
    let n = findings
        .iter()
        .filter(|f| codes.contains(&f["code"].as_str().unwrap()))
        .count();
    assert_eq!(n, want.len(), "no duplicates");
}

#[test]
fn diff_reports_drift_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let db = db.to_str().unwrap();
    let sync = |mock: &Mock| mock.sync(db);
    let out = ramsync(&["diff", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(2), "no database yet");

    let original = Mock::sample();
    sync(&original);
    let out = ramsync(&["diff", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs two complete syncs"),
        "{}",
        stderr(&out)
    );
    sync(&original);
    let out = ramsync(&["diff", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no changes"));

    // Drift: a new user in admins, a user leaves the finance group, a role is deleted.
    let text =
        std::fs::read_to_string(repo_root().join("tests/fixtures/sample-tenant.json")).unwrap();
    let mut t: Value = serde_json::from_str(&text).unwrap();
    t["users"].as_array_mut().unwrap().push(serde_json::json!({"name": "mallory.new", "display_name": "Mallory New", "groups": ["admins"]}));
    let finance_user = t["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|u| u["groups"] == serde_json::json!(["finance"]))
        .unwrap();
    finance_user["groups"] = serde_json::json!([]);
    let leaver = upn(finance_user["name"].as_str().unwrap());
    t["roles"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["name"] != "AuditReader");
    let drifted = Mock::start(MockOptions::with_tenant(
        Tenant::from_json(&t.to_string()).unwrap(),
    ));
    sync(&drifted);

    let out = ramsync(&["diff", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(1));
    let got: BTreeSet<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.to_string())
        .collect();
    let want: BTreeSet<String> = [
        format!("+ user:{} ", upn("mallory.new")),
        "- role:AuditReader ".to_string(),
        format!("+ group:admins member user:{}", upn("mallory.new")),
        format!("- group:finance member user:{leaver}"),
        "- policy:ReadOnlyAccess attached role:AuditReader".to_string(),
        "- role:AuditReader assume role:DeployRole".to_string(),
    ]
    .into_iter()
    .collect();
    let got_prefixes: BTreeSet<String> = got
        .iter()
        .map(|l| {
            if l.contains(" (") {
                l.split(" (").next().unwrap().to_string() + " "
            } else {
                l.clone()
            }
        })
        .collect();
    assert_eq!(got_prefixes, want, "{got:?}");
    let json = json_lines(&ramsync(&["diff", "--db", db, "--json"], &[]));
    assert_eq!(json.len(), want.len());
    assert!(
        json.iter()
            .all(|c| c["change"] == "added" || c["change"] == "removed")
    );
    // Explicit ids work too; the same sync against itself has no changes.
    let runs = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]));
    let last = runs[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        ramsync(&["diff", "--db", db, &last, &last], &[])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        ramsync(&["diff", "--db", db, "999", &last], &[])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn export_writes_every_record_as_jsonl_and_every_grant_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let jsonl = dir.path().join("sync.jsonl");
    let out = ramsync(
        &[
            "export",
            "--db",
            &db,
            "--format",
            "jsonl",
            "-o",
            jsonl.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["record"], "sync");
    let of = |kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["record"] == kind)
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("record");
                r
            })
            .collect()
    };
    // The same resources and grants the query commands print.
    let resources = json_lines(&ramsync(&["resources", "--db", &db, "--json"], &[]));
    assert_eq!(of("resource").len(), resources.len());
    let key = |v: &Value| v.to_string();
    let grants: BTreeSet<String> = json_lines(&ramsync(&["grants", "--db", &db, "--json"], &[]))
        .iter()
        .map(|g| {
            let mut g = g.clone();
            let m = g.as_object_mut().unwrap();
            m.remove("principal_account_name");
            m.remove("principal_folder_path");
            key(&g)
        })
        .collect();
    let exported: BTreeSet<String> = of("grant").iter().map(key).collect();
    assert_eq!(exported, grants);
    // Every grant is of an exported entitlement.
    let entitlements: BTreeSet<(String, String, String)> = of("entitlement")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("resource_type"), s("resource_id"), s("slug"))
        })
        .collect();
    for g in of("grant") {
        let s = |k: &str| g[k].as_str().unwrap().to_string();
        assert!(
            entitlements.contains(&(s("resource_type"), s("resource_id"), s("entitlement"))),
            "{g}"
        );
    }

    let csv_path = dir.path().join("grants.csv");
    let out = ramsync(
        &[
            "export",
            "--db",
            &db,
            "--format",
            "csv",
            "-o",
            csv_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "account",
            "resource_type",
            "resource_id",
            "resource_name",
            "entitlement",
            "principal_type",
            "principal_id",
            "principal_name",
            "conditions",
            "attributes"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), grants.len());
    // The role that needs an ExternalId says so in its own cell, and no value is written.
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(!text.contains("nw-7f3c2a91"));
    assert!(
        rows.iter()
            .any(|r| r[8].contains("ExternalId required") && r[1] == *"role"),
        "a role trust needing an ExternalId"
    );
    // A missing database is a clear error and writes nothing.
    let nothing = dir.path().join("none.csv");
    let out = ramsync(
        &[
            "export",
            "--db",
            dir.path().join("missing.db").to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            nothing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!nothing.exists());
}

#[test]
fn export_c1z_decodes_independently_to_every_resource_entitlement_and_grant() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let c1z = dir.path().join("sync.c1z");
    let out = ramsync(
        &[
            "export",
            "--db",
            &db,
            "--format",
            "c1z",
            "-o",
            c1z.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Read by Google's protobuf runtime from the .proto, not by ramsync's encoder.
    let decoded = std::process::Command::new(python())
        .arg(repo_root().join("tests/conformance/c1z_decode.py"))
        .arg(&c1z)
        .output()
        .unwrap();
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let doc: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(doc["sync"]["sync_type"], "full");
    assert_eq!(doc["sync"]["sync_id"].as_str().unwrap().len(), 27);
    assert!(doc["frame"]["content_size"].as_u64().unwrap() > 0);
    assert_eq!(doc["frame"]["has_checksum"], true);
    for table in [
        "v1_assets",
        "v1_connector_sessions",
        "v1_entitlements",
        "v1_grants",
        "v1_resource_types",
        "v1_resources",
        "v1_sync_runs",
    ] {
        assert!(
            doc["tables"].as_array().unwrap().contains(&json!(table)),
            "{table}"
        );
    }

    // Every resource, with its name, status and attributes.
    let resources = json_lines(&ramsync(&["resources", "--db", &db, "--json"], &[]));
    let decoded_resources = doc["resources"].as_array().unwrap();
    assert_eq!(decoded_resources.len(), resources.len());
    let by_ref: std::collections::HashMap<(String, String), &Value> = decoded_resources
        .iter()
        .map(|r| {
            let s = |k: &str| r["ref"][k].as_str().unwrap().to_string();
            ((s("type"), s("id")), r)
        })
        .collect();
    for r in &resources {
        let s = |k: &str| r[k].as_str().unwrap().to_string();
        let d = by_ref[&(s("resource_type"), s("id"))];
        let name = if s("display_name").is_empty() {
            s("name")
        } else {
            s("display_name")
        };
        assert_eq!(d["display_name"], json!(name), "{r}");
        assert_eq!(d["profile"], r["attributes"], "{r}");
    }
    let frozen = resources
        .iter()
        .find(|r| r["resource_type"] == "user" && r["status"] == "frozen")
        .unwrap();
    let d = by_ref[&("user".into(), frozen["id"].as_str().unwrap().into())];
    assert_eq!(d["status"], "RESOURCE_STATUS_DISABLED");
    let trait_ = &d["annotations"]["c1.connector.v2.UserTrait"];
    assert_eq!(trait_["login"], frozen["name"]);
    assert_eq!(trait_["status"]["status"], "STATUS_DISABLED");
    assert_eq!(trait_["account_type"], "ACCOUNT_TYPE_HUMAN");
    let types: Vec<&Value> = doc["resource_types"].as_array().unwrap().iter().collect();
    let user_type = types.iter().find(|t| t["id"] == "user").unwrap();
    assert_eq!(user_type["traits"], json!(["TRAIT_USER"]));
    assert!(
        user_type["annotations"]
            .as_object()
            .unwrap()
            .contains_key("c1.connector.v2.SkipEntitlementsAndGrants")
    );

    // Every grant, under baton's ids: type:id:slug, then the principal's type and id.
    let grants = json_lines(&ramsync(&["grants", "--db", &db, "--json"], &[]));
    let want: BTreeSet<String> = grants
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap().to_string();
            format!(
                "{}:{}:{}:{}:{}",
                s("resource_type"),
                s("resource_id"),
                s("entitlement"),
                s("principal_type"),
                s("principal_id")
            )
        })
        .collect();
    let got: BTreeSet<String> = doc["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let id = g["id"].as_str().unwrap().to_string();
            let entitlement = g["entitlement"].as_str().unwrap();
            let principal = format!(
                "{}:{}",
                g["principal"]["type"].as_str().unwrap(),
                g["principal"]["id"].as_str().unwrap()
            );
            assert_eq!(id, format!("{entitlement}:{principal}"));
            assert!(
                doc["entitlements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["id"] == g["entitlement"]),
                "{g}"
            );
            id
        })
        .collect();
    assert_eq!(got.len(), doc["grants"].as_array().unwrap().len());
    assert_eq!(got, want);
    // Conditions travel as the grant's metadata.
    let external_id = grants
        .iter()
        .find(|g| g["attributes"]["external_id_required"] == true)
        .unwrap();
    let id = format!(
        "role:{}:assume:{}:{}",
        external_id["resource_id"].as_str().unwrap(),
        external_id["principal_type"].as_str().unwrap(),
        external_id["principal_id"].as_str().unwrap()
    );
    let g = doc["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == json!(id))
        .unwrap();
    assert_eq!(
        g["annotations"]["c1.connector.v2.GrantMetadata"]["metadata"]["external_id_required"],
        true
    );
    // Every entitlement of the sync, each with baton's purpose.
    let purposes: BTreeSet<(String, String)> = doc["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["slug"].as_str().unwrap().to_string(),
                e["purpose"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(purposes.contains(&("member".into(), "PURPOSE_VALUE_ASSIGNMENT".into())));
    assert!(purposes.contains(&("attached".into(), "PURPOSE_VALUE_PERMISSION".into())));
}

/// Debian's Chromium, headless, with a fresh profile and no background connections.
fn chromium(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let binary = std::env::var("RAMSYNC_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    // A fresh profile for each start: two Chromiums never share one.
    let profile = tempfile::tempdir_in(dir).unwrap();
    std::process::Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{binary} (Debian's chromium package) is needed to render the report: {e}")
        })
}

/// The rendered text of an HTML document: scripts and styles (the report's data among
/// them) and tags dropped, an element's text running on into the next one's, entities read.
fn text_of(html: &str) -> String {
    let mut rest = html;
    let mut visible = String::new();
    loop {
        let next = ["<script", "<style"]
            .iter()
            .filter_map(|open| rest.find(open).map(|at| (at, *open)))
            .min();
        let Some((at, open)) = next else {
            visible.push_str(rest);
            break;
        };
        visible.push_str(&rest[..at]);
        let close = if open == "<script" {
            "</script>"
        } else {
            "</style>"
        };
        rest = match rest[at..].find(close) {
            Some(end) => &rest[at + end + close.len()..],
            None => "",
        };
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in visible.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[test]
fn report_is_one_self_contained_page_that_chromium_renders_with_its_findings_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let db = synced_sample(&dir);
    let html = dir.path().join("report.html");
    let out = ramsync(&["report", "--db", &db, "-o", html.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing to load, and the page's policy forbids loading anything.
    for outside in [
        "src=",
        "<link",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!page.contains(outside), "the report refers to {outside}");
    }
    assert!(page.contains("default-src 'none'"));

    // Opened at one user, after its scripts ran.
    let user = upn("alice.wang");
    let url = format!("file://{}#principal=user:{user}", html.display());
    let dom = chromium(dir.path(), &["--dump-dom", &url]);
    assert!(dom.status.success(), "{}", stderr(&dom));
    let text = text_of(&stdout(&dom));
    // Every finding, with its evidence (the sample has fewer than a page of them).
    let findings = json_lines(&ramsync(&["findings", "--db", &db, "--json"], &[]));
    assert!(!findings.is_empty() && findings.len() <= 100);
    for f in &findings {
        for k in ["code", "evidence"] {
            assert!(text.contains(f[k].as_str().unwrap()), "missing {k} of {f}");
        }
    }
    assert!(text.contains("cross-account-trust-without-external-id"));
    // The user's paths, as `access --principal` gives them.
    let paths = lines(&ramsync(
        &["access", "--db", &db, "--principal", &user],
        &[],
    ));
    assert!(!paths.is_empty());
    for p in &paths {
        assert!(text.contains(p.trim()), "missing path {p}");
    }
    // Who may assume which role, with the conditions.
    assert!(text.contains("Who can assume which role"));
    assert!(text.contains("ExternalId"));
    assert!(text.contains("none: any holder of that account's credentials"));

    // And as a picture.
    let png = dir.path().join("report.png");
    let shot = chromium(
        dir.path(),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,2200",
            &format!("file://{}", html.display()),
        ],
    );
    assert!(shot.status.success(), "{}", stderr(&shot));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 50_000, "a {} byte screenshot", bytes.len());
    if let Ok(keep) = std::env::var("RAMSYNC_REPORT_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
