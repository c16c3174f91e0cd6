//! The reports over a synced store: effective access, findings, and diffs between syncs.

mod common;

use common::*;
use ramsync::mock::{MockOptions, Tenant};
use serde_json::Value;
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

    // The table never shows an ExternalId value; severities come most severe first.
    let table = stdout(&ramsync(&["findings", "--db", &db], &[]));
    assert!(!table.contains("nw-7f3c2a91"));
    assert!(table.lines().nth(1).unwrap().starts_with("high"), "{table}");
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
