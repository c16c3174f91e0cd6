//! End to end: the `ramsync` binary against the local Alibaba Cloud API, over real HTTP
//! with real signatures.

mod common;

use common::*;
use ramsync::mock::{Fault, FaultKind, MockKey, MockOptions, Tenant};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn sync_args<'a>(db: &'a str, mock: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["sync", "--db", db];
    args.extend(mock.iter().map(String::as_str));
    args
}

fn with_faults(faults: Vec<Fault>) -> Mock {
    let mut options = MockOptions::sample().unwrap();
    options.faults = faults;
    Mock::start(options)
}

#[test]
fn sync_finds_exactly_the_sample_tenant() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert!(out.status.success(), "sync failed: {}", stderr(&out));
    assert!(stdout(&out).contains("complete"), "{}", stdout(&out));

    let expected = expected_sample();
    let resources = json_lines(&ramsync(&["resources", "--db", db, "--json"], &[]));
    let of_type = |t: &str| -> Vec<&Value> {
        resources
            .iter()
            .filter(|r| r["resource_type"] == t)
            .collect()
    };

    let accounts = of_type("account");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["id"], expected.account_id.as_str());
    assert_eq!(accounts[0]["name"], expected.alias.as_str());

    let users: BTreeMap<String, String> = of_type("user")
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        users, expected.users,
        "users and their statuses, frozen ones included"
    );
    assert!(users.values().any(|s| s == "frozen"));

    let names = |t: &str| -> BTreeSet<String> {
        of_type(t)
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("group"), expected.groups);
    assert_eq!(names("role"), expected.roles);
    let policies: BTreeSet<(String, String)> = of_type("policy")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["attributes"]["policy_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(policies, expected.policies, "System and Custom policies");
    assert_eq!(
        resources.len(),
        1 + expected.users.len()
            + expected.access_keys.len()
            + expected.groups.len()
            + expected.roles.len()
            + expected.policies.len()
    );
    for r in &resources {
        for field in ["resource_type", "id", "name", "display_name"] {
            assert!(r[field].is_string(), "{field} missing in {r}");
        }
    }

    let grants = json_lines(&ramsync(&["grants", "--db", db, "--json"], &[]));
    let find = |t: &str, id: &Value| of_type(t).into_iter().find(|r| &r["id"] == id).cloned();
    let members: BTreeSet<(String, String)> = grants
        .iter()
        .filter(|g| g["entitlement"] == "member")
        .map(|g| {
            assert_eq!(g["resource_type"], "group");
            assert_eq!(g["principal_type"], "user");
            let user = find("user", &g["principal_id"]).expect("principal is a synced user");
            assert_eq!(user["name"], g["principal_name"]);
            let group = find("group", &g["resource_id"]).expect("resource is a synced group");
            assert_eq!(group["name"], g["resource_name"]);
            (
                g["resource_name"].as_str().unwrap().to_string(),
                g["principal_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(members, expected.members);

    // Policy attachments, matched to the synced users, groups and roles.
    let attached: BTreeSet<(String, String, String)> = grants
        .iter()
        .filter(|g| g["entitlement"] == "attached")
        .map(|g| {
            assert_eq!(g["resource_type"], "policy");
            let principal_type = g["principal_type"].as_str().unwrap();
            let principal = find(principal_type, &g["principal_id"])
                .unwrap_or_else(|| panic!("unmatched principal in {g}"));
            assert_eq!(principal["name"], g["principal_name"]);
            assert!(g["attributes"]["attach_date"].is_string(), "{g}");
            (
                g["resource_name"].as_str().unwrap().to_string(),
                principal_type.to_string(),
                g["principal_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(attached, expected.attachments);

    // Role assumption, from the trust policies: every principal kind and condition.
    let own = expected.account_id.as_str();
    let upn = |name: &str| format!("{name}@northwind.onaliyun.com");
    let assume: BTreeSet<(String, String, String, bool, bool, bool)> = grants
        .iter()
        .filter(|g| g["entitlement"] == "assume")
        .map(|g| {
            let a = &g["attributes"];
            assert_eq!(g["cross_account"], a["cross_account"], "{g}");
            match g["principal_type"].as_str().unwrap() {
                t @ ("user" | "role") if g["cross_account"] == false => {
                    let principal = find(t, &g["principal_id"])
                        .unwrap_or_else(|| panic!("unmatched principal in {g}"));
                    assert_eq!(principal["name"], g["principal_name"]);
                }
                // The synced account is matched to its resource; others keep their ARN.
                "account" if g["principal_id"] == own => {
                    assert_eq!(g["principal_name"], expected.alias.as_str())
                }
                "account" => assert_eq!(
                    g["principal_name"],
                    format!("acs:ram::{}:root", g["principal_id"].as_str().unwrap())
                ),
                _ => assert_eq!(g["principal_id"], g["principal_name"]),
            }
            (
                g["resource_name"].as_str().unwrap().to_string(),
                g["principal_type"].as_str().unwrap().to_string(),
                g["principal_name"].as_str().unwrap().to_string(),
                a["cross_account"].as_bool().unwrap(),
                a["external_id_required"].as_bool().unwrap(),
                a["mfa_required"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = |r: &str, t: &str, n: &str, cross: bool, ext: bool, mfa: bool| {
        (r.to_string(), t.to_string(), n.to_string(), cross, ext, mfa)
    };
    let expected_assume: BTreeSet<_> = [
        want(
            "VendorByocAccess",
            "account",
            "acs:ram::1688001234567890:root",
            true,
            true,
            false,
        ),
        want(
            "CrossAccountOps",
            "account",
            "acs:ram::1122334455667788:root",
            true,
            false,
            false,
        ),
        want(
            "CrossAccountOps",
            "user",
            "acs:ram::1122334455667788:user/oncall-bot",
            true,
            false,
            false,
        ),
        want(
            "AliyunECSInstanceForOpsRole",
            "service",
            "ecs.aliyuncs.com",
            false,
            false,
            false,
        ),
        want(
            "AliyunFCDefaultRole",
            "service",
            "fc.aliyuncs.com",
            false,
            false,
            false,
        ),
        want(
            "OktaAdmins",
            "identity-provider",
            &format!("acs:ram::{own}:saml-provider/okta"),
            false,
            false,
            false,
        ),
        want(
            "DeployRole",
            "user",
            &upn("ci-deployer"),
            false,
            false,
            false,
        ),
        want("DeployRole", "user", &upn("hzhou"), false, false, false),
        want("BreakGlass", "account", "northwind", false, false, true),
        want("AuditReader", "role", "DeployRole", false, false, false),
    ]
    .into_iter()
    .collect();
    assert_eq!(assume, expected_assume);
    let breakglass = grants
        .iter()
        .find(|g| g["resource_name"] == "BreakGlass")
        .unwrap();
    assert_eq!(breakglass["attributes"]["source_ip"], "203.0.113.0/24");
    let vendor = grants
        .iter()
        .find(|g| g["resource_name"] == "VendorByocAccess")
        .unwrap();
    assert_eq!(vendor["principal_id"], "1688001234567890");
    assert!(
        !stdout(&ramsync(&["grants", "--db", db], &[])).contains("nw-7f3c2a91"),
        "the ExternalId value is never shown"
    );
    assert!(
        !serde_json::to_string(&grants)
            .unwrap()
            .contains("nw-7f3c2a91")
    );
    let roles = of_type("role");
    let deploy = roles.iter().find(|r| r["name"] == "DeployRole").unwrap();
    assert_eq!(
        deploy["attributes"]["trust_policy_denies"],
        format!("acs:ram::{own}:user/ihe")
    );
    let broken = roles
        .iter()
        .find(|r| r["name"] == "LegacyBrokenTrust")
        .unwrap();
    assert!(
        broken["attributes"]["trust_policy_error"]
            .as_str()
            .unwrap()
            .contains("unrecognised RAM principal"),
        "{broken}"
    );
    assert_eq!(
        grants.len(),
        expected.members.len() + expected.attachments.len() + expected_assume.len()
    );

    // The readable forms show the same data.
    let table = stdout(&ramsync(&["resources", "--db", db, "--type", "user"], &[]));
    assert_eq!(table.lines().count(), 1 + expected.users.len());
    assert!(table.lines().next().unwrap().starts_with("TYPE"));
    let table = stdout(&ramsync(&["grants", "--db", db], &[]));
    assert_eq!(table.lines().count(), 1 + grants.len());
}

/// The same keys, console logon and MFA come out whether the credential report spares the
/// per-user calls or is refused and they are made; only the calls differ.
#[test]
fn access_keys_mfa_and_console_logon_of_the_sample_tenant() {
    keys_mfa_and_logon(&Mock::sample(), true);
    let refused = Fault::new("GenerateCredentialReport", FaultKind::Deny, None);
    keys_mfa_and_logon(&with_faults(vec![refused]), false);
}

fn keys_mfa_and_logon(mock: &Mock, with_report: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let db = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    let synced = last_sync_started(db);
    let expected = expected_sample();
    assert!(expected.access_keys.len() > 20 && expected.unbound_mfa_devices.len() == 2);
    let last_used = &expected.key_last_used;

    let users = json_lines(&ramsync(
        &["resources", "--db", db, "--type", "user", "--json"],
        &[],
    ));
    let upn_of: BTreeMap<String, String> = users
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // Every key, under the right user, with its status; nothing else.
    let keys = json_lines(&ramsync(
        &["resources", "--db", db, "--type", "access-key", "--json"],
        &[],
    ));
    let got: BTreeSet<(String, String, String)> = keys
        .iter()
        .map(|k| {
            assert_eq!(k["resource_type"], "access-key");
            assert_eq!(k["id"], k["name"], "the AccessKey id is the name");
            assert_eq!(k["parent_type"], "user", "{k}");
            let user = upn_of
                .get(k["parent_id"].as_str().unwrap())
                .unwrap_or_else(|| panic!("the parent of {k} is a synced user"));
            assert_eq!(k["status"], k["attributes"]["status"]);
            (
                user.clone(),
                k["id"].as_str().unwrap().to_string(),
                k["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = expected
        .access_keys
        .iter()
        .map(|(id, (upn, status, _))| (upn.clone(), id.clone(), status.to_lowercase()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(keys.len(), expected.access_keys.len());
    // The demo key ramsync signs with is listed like any other, by id only.
    assert!(got.contains(&(
        "ramsync-reader@northwind.onaliyun.com".to_string(),
        DEMO_ID.to_string(),
        "active".to_string()
    )));
    for k in &keys {
        let attributes: BTreeSet<&str> = k["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let id = k["id"].as_str().unwrap();
        let (_, status, created) = &expected.access_keys[id];
        // Last use, from the report or GetAccessKeyLastUsed; inactive keys are not asked
        // about unless the report tells.
        let mut want = BTreeSet::from(["create_date", "status", "user_principal_name"]);
        assert_eq!(
            k["attributes"]["user_principal_name"],
            expected.access_keys[id].0.as_str()
        );
        match (last_used.get(id).map(String::as_str), status.as_str()) {
            (_, "Inactive") if !with_report => {}
            (Some("never"), _) => {
                want.insert("never_used");
                assert_eq!(k["attributes"]["never_used"], true, "{k}");
            }
            (Some(date), _) => {
                want.insert("last_used_date");
                assert_eq!(k["attributes"]["last_used_date"], date, "{k}");
            }
            (None, _) => {
                want.insert("last_used_date");
                let used = k["attributes"]["last_used_date"].as_str().unwrap();
                let age = synced - parse_date(used);
                assert!(
                    age > time::Duration::hours(23) && age < time::Duration::hours(25),
                    "{k}"
                );
            }
        }
        assert_eq!(attributes, want, "{k}");
        let served = k["attributes"]["create_date"].as_str().unwrap();
        if created == "recent" {
            let age = synced - parse_date(served);
            assert!(
                age > time::Duration::days(9) && age < time::Duration::days(11),
                "a recent key is served ten days old: {k}"
            );
        } else {
            assert_eq!(served, created, "{k}");
        }
    }

    // Console logon and MFA on every user, as JSON booleans.
    for u in &users {
        let upn = u["name"].as_str().unwrap();
        let a = &u["attributes"];
        assert_eq!(a["console_access"], expected.console_access(upn), "{upn}");
        assert_eq!(a["mfa_enabled"], expected.mfa_enabled(upn), "{upn}");
        match expected.mfa_devices.get(upn) {
            Some(serial) => {
                assert_eq!(a["mfa_device"], serial.as_str(), "{upn}");
                assert!(a["mfa_activate_date"].is_string(), "{upn}");
            }
            None => assert!(a.get("mfa_device").is_none(), "{upn}"),
        }
        match expected.login_profiles.get(upn) {
            Some((_, reset, bind)) => {
                assert_eq!(a["password_reset_required"], *reset, "{upn}");
                assert_eq!(a["mfa_bind_required"], *bind, "{upn}");
            }
            None => {
                assert!(a.get("password_reset_required").is_none(), "{upn}");
                assert!(a.get("mfa_bind_required").is_none(), "{upn}");
            }
        }
    }
    assert_eq!(
        users.len(),
        expected.users.len(),
        "MFA devices add no users"
    );
    // The fixture has every combination, and a disabled login profile.
    let combos: BTreeSet<(bool, bool)> = users
        .iter()
        .map(|u| {
            (
                u["attributes"]["console_access"].as_bool().unwrap(),
                u["attributes"]["mfa_enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(combos.len(), 4, "{combos:?}");
    assert!(
        expected
            .login_profiles
            .values()
            .any(|(s, _, _)| s == "Inactive")
    );

    // With the report: ListAccessKeys only for users with keys, GetLoginProfile only for
    // users with a login profile, GetAccessKeyLastUsed only for an active key the report
    // cannot tell apart from another of its user's (the same creation time). Without it:
    // one ListAccessKeys and one GetLoginProfile per user, and GetAccessKeyLastUsed per
    // active key. Either way one page of MFA devices per 100 of them.
    let calls = mock.server().calls();
    let count = |action: &str| calls.get(action).copied().unwrap_or(0);
    let n = expected.users.len() as u64;
    let devices = (expected.mfa_devices.len() + expected.unbound_mfa_devices.len()) as u64;
    let with_keys: BTreeSet<&String> = expected.access_keys.values().map(|(u, _, _)| u).collect();
    let ambiguous = expected
        .access_keys
        .values()
        .filter(|(u, s, c)| {
            s == "Active"
                && expected
                    .access_keys
                    .values()
                    .filter(|(u2, _, c2)| u2 == u && c2 == c)
                    .count()
                    > 1
        })
        .count() as u64;
    let active = expected.active_keys().values().map(Vec::len).sum::<usize>() as u64;
    let users_attr = |name: &str| {
        users
            .iter()
            .filter(|u| u["attributes"].get(name).is_some())
            .count()
    };
    if with_report {
        assert!(
            count("ims:GenerateCredentialReport") >= 2,
            "it polls: {calls:?}"
        );
        // The users' rows, and the account syncer's first page for the <root> row.
        assert_eq!(count("ims:GetCredentialReport"), 2);
        assert_eq!(count("ram:ListAccessKeys"), with_keys.len() as u64);
        assert!(with_keys.len() < expected.users.len());
        assert_eq!(
            count("ims:GetLoginProfile"),
            expected.login_profiles.len() as u64
        );
        assert!(expected.login_profiles.len() < expected.users.len());
        assert!(ambiguous > 0);
        assert_eq!(count("ims:GetAccessKeyLastUsed"), ambiguous);
        assert_eq!(users_attr("credential_report_time"), users.len());
        for u in &users {
            let upn = u["name"].as_str().unwrap();
            let a = &u["attributes"];
            assert_eq!(
                a["login_profile"],
                expected.login_profiles.contains_key(upn),
                "{upn}"
            );
            assert!(a["last_login_date"].is_string(), "{upn}");
        }
        assert!(
            summary.contains(&format!(
                "credential report: {n} of {n} users from the report generated "
            )),
            "{summary}"
        );
    } else {
        assert_eq!(count("ims:GetCredentialReport"), 0);
        assert_eq!(count("ram:ListAccessKeys"), n);
        assert_eq!(count("ims:GetLoginProfile"), n);
        assert_eq!(count("ims:GetAccessKeyLastUsed"), active);
        assert_eq!(users_attr("credential_report_time"), 0);
        assert!(
            summary.contains(&format!(
                "credential report: unavailable (it needs ram:GenerateCredentialReport and ram:GetCredentialReport, and Alibaba Cloud makes none for more than 3,500 users); all {n} users were read by per-user calls"
            )),
            "{summary}"
        );
    }
    assert_eq!(
        calls["ims:ListVirtualMFADevices"],
        devices.div_ceil(100).max(1)
    );
    assert!(!calls.contains_key("ims:ListAccessKeys"));
}

#[test]
fn access_keys_are_listed_but_no_secret_is_stored_or_logged() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let db_str = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let mut args = vec!["-vv", "--log-format", "json"];
    args.extend(sync_args(db_str, &endpoints));
    let out = ramsync(&args, &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().count() > 3, "debug logging was on");
    let keys = json_lines(&ramsync(
        &[
            "resources",
            "--db",
            db_str,
            "--type",
            "access-key",
            "--json",
        ],
        &[],
    ));
    assert!(
        keys.iter().any(|k| k["id"] == DEMO_ID),
        "the demo key is synced"
    );
    let everything = stdout(&ramsync(&["resources", "--db", db_str, "--json"], &[]));
    // The database with its WAL files, the -vv logs, and what the queries print.
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    files.push(out.stdout.clone());
    files.push(out.stderr.clone());
    files.push(everything.clone().into_bytes());
    for needle in [
        DEMO_SECRET,
        "AccessKeySecret",
        "access_key_secret",
        "Secret\"",
    ] {
        for bytes in &files {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in the database, the logs or the output"
            );
        }
    }
    for r in json_lines(&ramsync(&["resources", "--db", db_str, "--json"], &[])) {
        for key in r["attributes"].as_object().unwrap().keys() {
            assert!(
                !key.to_lowercase().contains("secret"),
                "attribute {key} of {r}"
            );
        }
    }
}

#[test]
fn refused_key_and_login_calls_name_the_action_and_the_plugin() {
    for (action, needle) in [
        (
            "ListAccessKeys",
            "access-key: permission missing for action ram:ListAccessKeys",
        ),
        (
            "GetLoginProfile",
            "user (mfa-and-login): permission missing for action ram:GetLoginProfile",
        ),
        (
            "ListVirtualMFADevices",
            "user (mfa-and-login): permission missing for action ram:ListVirtualMFADevices",
        ),
    ] {
        let mock = with_faults(vec![Fault::new(action, FaultKind::Deny, None)]);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let db = db.to_str().unwrap();
        let endpoints = mock.endpoint_args();
        let out = ramsync(&sync_args(db, &endpoints), &demo_env());
        assert_eq!(out.status.code(), Some(1), "{action}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{action}: {err}");
        assert!(err.contains("AccessDeniedDetail"), "{action}: {err}");
        let runs = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]));
        assert_eq!(runs[0]["status"], "failed", "{action}");
    }
}

#[test]
fn paging_walks_every_page_with_no_wasted_calls() {
    // Over one page of users (1000), of groups (100), and of members of some groups (100).
    let tenant = Tenant::synthetic("users=2345,groups=130,roles=3,policies=9").unwrap();
    let member_pages: u64 = tenant
        .groups
        .iter()
        .map(|g| (g.members.len() as u64).div_ceil(100).max(1))
        .sum();
    let largest = tenant.groups.iter().map(|g| g.members.len()).max().unwrap();
    assert!(
        largest > 100,
        "some group must need a second page of members"
    );
    let mock = Mock::start(MockOptions::with_tenant(tenant));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    // Unpaced: two calls per user at the default 50 a second per product would take long.
    let mut endpoints = mock.endpoint_args();
    endpoints.extend(["--qps".to_string(), "0".to_string()]);
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));

    let resources = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "user"],
        &[],
    ));
    assert_eq!(resources.len(), 2345);
    assert_eq!(
        resources.iter().filter(|u| u["status"] == "frozen").count(),
        2345 / 10
    );
    let groups = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "group"],
        &[],
    ));
    assert_eq!(groups.len(), 130);
    let grants = json_lines(&ramsync(&["grants", "--db", db, "--json"], &[]));
    let tenant = mock.server().tenant();
    let expected_members: usize = tenant.groups.iter().map(|g| g.members.len()).sum();
    assert_eq!(
        grants
            .iter()
            .filter(|g| g["entitlement"] == "member")
            .count(),
        expected_members
    );
    let attached_policies = tenant.attachments.iter().filter(|a| !a.is_empty()).count() as u64;
    assert!(attached_policies > 0 && attached_policies < tenant.policies.len() as u64);

    let keys = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "access-key"],
        &[],
    ));
    assert_eq!(
        keys.len(),
        tenant
            .users
            .iter()
            .map(|u| u.access_keys.len())
            .sum::<usize>()
    );
    let devices = tenant
        .users
        .iter()
        .filter(|u| u.mfa_device.is_some())
        .count()
        + tenant.unbound_mfa_devices.len();
    assert!(devices > 100, "MFA devices span pages");
    let with_mfa = resources
        .iter()
        .filter(|u| u["attributes"]["mfa_enabled"] == true)
        .count();
    assert_eq!(
        with_mfa,
        tenant
            .users
            .iter()
            .filter(|u| u.mfa_device.is_some())
            .count()
    );

    let mut calls = mock.server().calls();
    let users = tenant.users.len() as u64;
    // Generating the report is polled until it is done, by the credential-report and the
    // account syncers each: a few calls, however many users.
    let polls = calls.remove("ims:GenerateCredentialReport").unwrap_or(0);
    assert!(
        (3..=16).contains(&polls),
        "{polls} GenerateCredentialReport calls"
    );
    let count = |f: &dyn Fn(&ramsync::mock::tenant::User) -> usize| {
        tenant.users.iter().map(f).sum::<usize>() as u64
    };
    // The report lists each key's last use by its creation time; a key that shares that
    // time with another of its user's is asked about on its own.
    let ambiguous = count(&|u| u.active_keys_sharing_a_creation_time());
    assert!(ambiguous > 0);
    let expected: BTreeMap<String, u64> = [
        ("ims:ListUsers", 3),
        // The report in pages of 1,000 rows, the account's own row first, and that row
        // alone for the account syncer.
        ("ims:GetCredentialReport", (users + 1).div_ceil(1000) + 1),
        ("ims:GetPasswordPolicy", 1),
        ("ims:GetSecurityPreference", 1),
        (
            "ram:ListAccessKeys",
            count(&|u| usize::from(!u.access_keys.is_empty())),
        ),
        (
            "ims:GetLoginProfile",
            count(&|u| usize::from(u.console.is_some())),
        ),
        ("ims:GetAccessKeyLastUsed", ambiguous),
        ("ims:ListVirtualMFADevices", (devices as u64).div_ceil(100)),
        ("ims:ListGroups", 2),
        ("ims:ListUsersForGroup", member_pages),
        ("ram:ListRoles", 1),
        ("ram:GetRole", 3),
        ("ram:ListPolicies", 1),
        ("ram:ListEntitiesForPolicy", attached_policies),
        // Each attached policy's document, System and Custom alike.
        ("ram:GetPolicy", attached_policies),
        ("ram:GetAccountAlias", 1),
        // One by the account syncer, one by the host: who the run syncs as, checked on resume.
        ("sts:GetCallerIdentity", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        calls, expected,
        "the minimum number of calls: largest page sizes, ListEntitiesForPolicy and GetPolicy only for attached policies, ListAccessKeys and GetLoginProfile only for users the credential report lists with keys or a login profile"
    );
}

#[test]
fn missing_credentials_are_one_clear_line() {
    let out = ramsync(&["sync", "--db", "/tmp/never-created.db"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID")
            && err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        "{err}"
    );
    assert!(!std::path::Path::new("/tmp/never-created.db").exists());
}

#[test]
fn unknown_endpoint_product_is_refused() {
    let out = ramsync(
        &[
            "sync",
            "--db",
            "x.db",
            "--endpoint",
            "ecs=http://127.0.0.1:1",
        ],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown product \"ecs\""), "{err}");
    let out = ramsync(&["sync", "--db", "x.db", "--endpoint", "ram"], &demo_env());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PRODUCT=URL"), "{}", stderr(&out));
}

#[test]
fn unreadable_database_path_is_one_clear_line() {
    let out = ramsync(&["sync", "--db", "/nonexistent-dir/sub/r.db"], &demo_env());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot open database /nonexistent-dir/sub/r.db"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = ramsync(&["resources", "--db", "/nonexistent-dir/r.db"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no database at /nonexistent-dir/r.db"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let not_db = dir.path().join("notes.txt");
    std::fs::write(
        &not_db,
        "just some text, not SQLite at all, long enough to have a header",
    )
    .unwrap();
    let out = ramsync(&["resources", "--db", not_db.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a ramsync database") || stderr(&out).contains("notes.txt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rejected_keys_say_so_and_name_the_variables() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let wrong_secret = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret-XYZ"),
    ];
    let out = ramsync(&sync_args(db, &endpoints), &wrong_secret);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("keys rejected") && err.contains("SignatureDoesNotMatch"),
        "{err}"
    );
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), "{err}");
    assert!(
        !err.contains("not-the-secret-XYZ"),
        "the secret must never be printed"
    );

    let unknown = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "whatever-secret"),
    ];
    let out = ramsync(&sync_args(db, &endpoints), &unknown);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("InvalidAccessKeyId.NotFound"),
        "{}",
        stderr(&out)
    );

    // Nothing complete was stored, and the failures are recorded as such.
    let runs = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]));
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "failed"));
    let out = ramsync(&["resources", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no complete sync"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_permission_names_the_action_and_keeps_the_last_good_sync() {
    let good = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let endpoints = good.endpoint_args();
    assert!(
        ramsync(&sync_args(db, &endpoints), &demo_env())
            .status
            .success()
    );
    let before = stdout(&ramsync(&["resources", "--db", db, "--json"], &[]));

    let denied = with_faults(vec![Fault::new("ListRoles", FaultKind::Deny, None)]);
    let endpoints = denied.endpoint_args();
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("permission missing for action ram:ListRoles"),
        "{err}"
    );
    assert!(
        err.contains("AccessDeniedDetail") && err.contains("RequestId"),
        "{err}"
    );
    assert!(err.contains("last complete sync"), "{err}");

    let after = stdout(&ramsync(&["resources", "--db", db, "--json"], &[]));
    assert_eq!(
        before, after,
        "a failed sync never replaces the last good one"
    );
    let runs = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]));
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[1]["status"], "complete");
}

#[test]
fn bad_responses_name_the_action_and_request_id() {
    for (kind, needle) in [
        (FaultKind::Malformed, "not valid JSON"),
        (FaultKind::MissingField, "missing field Role"),
        (FaultKind::WrongType, "should be a string"),
    ] {
        let mock = with_faults(vec![Fault::new("ListRoles", kind, None)]);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let db = db.to_str().unwrap();
        let endpoints = mock.endpoint_args();
        let out = ramsync(&sync_args(db, &endpoints), &demo_env());
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        let err = stderr(&out);
        assert!(
            err.contains("bad response") && err.contains("ListRoles") && err.contains(needle),
            "{kind:?}: {err}"
        );
        let id = err.split("RequestId ").nth(1).unwrap_or_default();
        assert!(id.len() >= 36, "{kind:?}: no RequestId in {err}");
        assert!(!err.contains("panicked"), "{err}");
        // The other resource types were still synced and reported as fine.
        assert!(!err.contains("\n  user:"), "{err}");
    }
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let mock = with_faults(vec![
        Fault::new("ListUsers", FaultKind::Throttle, Some(2)),
        Fault::new("ListGroups", FaultKind::ServerError, Some(1)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = mock.server().calls();
    assert_eq!(
        calls["ims:ListUsers"], 3,
        "two throttled attempts, then success"
    );
    assert_eq!(calls["ims:ListGroups"], 2, "one server error, then success");
    let users = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "user"],
        &[],
    ));
    assert_eq!(users.len(), expected_sample().users.len());
}

#[test]
fn sts_credentials_carry_the_security_token() {
    let mut options = MockOptions::sample().unwrap();
    let mut key = MockKey::user("sts-secret-value", "ramsync-reader");
    key.security_token = Some(ramsync::credentials::Secret::new("CAIS-token-value"));
    options.keys.insert("STS.tempkey".into(), key);
    let mock = Mock::start(options);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db = db.to_str().unwrap();
    let endpoints = mock.endpoint_args();
    let env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.tempkey"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sts-secret-value"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "CAIS-token-value"),
    ];
    let out = ramsync(&sync_args(db, &endpoints), &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.tempkey"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sts-secret-value"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "wrong-token"),
    ];
    let out = ramsync(&sync_args(db, &endpoints), &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("InvalidSecurityToken"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("wrong-token") && !stderr(&out).contains("sts-secret-value"));
}

#[test]
fn sign_reproduces_the_published_test_vector() {
    let input = serde_json::json!({
        "method": "POST",
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "path": "/",
        "query": {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"},
        "headers": {
            "x-acs-action": "RunInstances",
            "x-acs-version": "2014-05-26",
            "x-acs-date": "2023-10-26T10:22:32Z",
            "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d"
        },
        "body": "",
        "access_key_id": "YourAccessKeyId",
        "access_key_secret": "YourAccessKeySecret"
    });
    let out = run_sign(&input.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["string_to_sign"],
        "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    );
    assert_eq!(
        v["authorization"],
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    );
    assert!(
        v["canonical_request"]
            .as_str()
            .unwrap()
            .starts_with("POST\n/\nImageId=")
    );

    // Without a date and nonce the signer adds fresh ones, different every time.
    let mut fresh = input.clone();
    fresh["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.starts_with("x-acs-date") && !k.starts_with("x-acs-signature"));
    let a: Value = serde_json::from_str(&stdout(&run_sign(&fresh.to_string()))).unwrap();
    let b: Value = serde_json::from_str(&stdout(&run_sign(&fresh.to_string()))).unwrap();
    assert_ne!(
        a["added_headers"]["x-acs-signature-nonce"],
        b["added_headers"]["x-acs-signature-nonce"]
    );
    assert!(
        a["added_headers"]["x-acs-date"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // An STS token is signed but never printed.
    let mut sts = input.clone();
    sts["security_token"] = serde_json::json!("CAIS-very-secret-token");
    let out = run_sign(&sts.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(!stdout(&out).contains("CAIS-very-secret-token"));
    assert!(
        v["canonical_request"]
            .as_str()
            .unwrap()
            .contains("x-acs-security-token:<redacted>")
    );
    assert!(
        v["authorization"]
            .as_str()
            .unwrap()
            .contains("x-acs-security-token")
    );

    // A wrongly typed secret is not echoed back.
    let mut typed = input.clone();
    typed["access_key_secret"] = serde_json::json!(987654321);
    let out = run_sign(&typed.to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid input on stdin: data error"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("987654321"), "{}", stderr(&out));

    let out = run_sign("{\"method\": 3}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid input on stdin"),
        "{}",
        stderr(&out)
    );
}

fn run_sign(input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ramsync"))
        .arg("sign")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn demo_runs_and_points_at_next_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = ramsync(&["demo", "--db", db.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let expected = expected_sample();
    assert!(
        text.contains(&format!("{:<10} {:>7}", "user", expected.users.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{:<17} {:>7}",
            "group member",
            expected.members.len()
        )),
        "{text}"
    );
    assert!(text.contains(db.to_str().unwrap()), "{text}");
    assert!(text.contains("resources --db"), "{text}");
}

#[test]
fn mock_command_serves_until_stopped_and_prints_its_url() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let tenant_path = dir.path().join("tenant.json");
    std::fs::write(
        &tenant_path,
        r#"{"account_id":"1111222233334444","alias":"tiny","users":[{"name":"ann","display_name":"Ann","groups":["ops"]},{"name":"bo","display_name":"Bo","status":"frozen"}],"groups":[{"name":"ops"}]}"#,
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ramsync"))
        .args([
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--tenant",
            tenant_path.to_str().unwrap(),
            "--access-key-id",
            "LTAItiny",
            "--access-key-secret",
            "tiny-secret",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a line with http://HOST:PORT")
        .to_string();
    let db = dir.path().join("t.db");
    let db = db.to_str().unwrap();
    let endpoints: Vec<String> = ["ram", "ims", "sts"]
        .iter()
        .flat_map(|p| ["--endpoint".to_string(), format!("{p}={url}")])
        .collect();
    let out = ramsync(
        &sync_args(db, &endpoints),
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAItiny"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "tiny-secret"),
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let users = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "user"],
        &[],
    ));
    let got: BTreeSet<(String, String)> = users
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("ann@tiny.onaliyun.com", "active"),
        ("bo@tiny.onaliyun.com", "frozen"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);

    // A broken tenant file is refused with the file named.
    std::fs::write(
        &tenant_path,
        r#"{"account_id":"1111222233334444","alias":"tiny","users":[{"name":"x"}]}"#,
    )
    .unwrap();
    let out = ramsync(
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--tenant",
            tenant_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid tenant file") && stderr(&out).contains("display_name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_secret_reaches_logs_or_the_database() {
    let mut options = MockOptions::sample().unwrap();
    let mut key = MockKey::user("secret-value-0123456789", "ramsync-reader");
    key.security_token = Some(ramsync::credentials::Secret::new("token-value-ABCDEFGH"));
    options.keys.insert("STS.hygiene".into(), key);
    let mock = Mock::start(options);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let db_str = db.to_str().unwrap();
    let mut args = vec!["-vv", "--log-format", "json"];
    let endpoints = mock.endpoint_args();
    args.extend(sync_args(db_str, &endpoints));
    let env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.hygiene"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-value-0123456789"),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "token-value-ABCDEFGH"),
    ];
    let out = ramsync(&args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().count() > 3, "debug logging was on");
    for secret in ["secret-value-0123456789", "token-value-ABCDEFGH"] {
        assert!(!stderr(&out).contains(secret) && !stdout(&out).contains(secret));
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in the database files"
            );
        }
    }
}

#[test]
fn list_entities_for_policy_only_for_attached_policies() {
    // A realistic tenant: 1,500 System policies, 20 of them attached somewhere.
    let tenant = Tenant::synthetic(
        "users=300,groups=10,roles=2,policies=1500,custom_policies=0,attached_policies=20",
    )
    .unwrap();
    assert_eq!(
        tenant
            .policies
            .iter()
            .filter(|p| p.policy_type == "System")
            .count(),
        1500
    );
    assert_eq!(
        tenant.attachments.iter().filter(|a| !a.is_empty()).count(),
        20
    );
    let mock = Mock::start(MockOptions::with_tenant(tenant));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    // Unpaced: two calls per user at the default 50 a second per product would take long.
    let mut endpoints = mock.endpoint_args();
    endpoints.extend(["--qps".to_string(), "0".to_string()]);
    let out = ramsync(&sync_args(db, &endpoints), &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = mock.server().calls();
    assert_eq!(
        calls["ram:ListPolicies"], 2,
        "1,500 policies at 1,000 per page"
    );
    assert_eq!(calls["ram:ListEntitiesForPolicy"], 20);
    assert_eq!(
        calls["ram:GetPolicy"], 20,
        "the documents of the attached policies only"
    );
    let policies = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "policy"],
        &[],
    ));
    assert_eq!(policies.len(), 1500);
}

#[test]
fn demo_resource_directory_syncs_every_member_with_its_folder_and_reports_the_one_it_cannot_reach()
{
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rd.db");
    let db = db.to_str().unwrap();
    let out = ramsync(&["demo", "--resource-directory", "--db", db], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("1000000000000301 northwind-sandbox /Development"),
        "{shown}"
    );
    let runs: BTreeMap<String, (String, String, String)> =
        json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]))
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (
                    s("account"),
                    (s("status"), s("account_display_name"), s("folder_path")),
                )
            })
            .collect();
    let row = |status: &str, name: &str, path: &str| {
        (status.to_string(), name.to_string(), path.to_string())
    };
    assert_eq!(
        runs,
        BTreeMap::from([
            (
                "5284719302648173".to_string(),
                row("complete", "northwind", "/")
            ),
            (
                "1000000000000101".to_string(),
                row("complete", "northwind-prod-web", "/Production/Web")
            ),
            (
                "1000000000000201".to_string(),
                row("complete", "northwind-dev", "/Development")
            ),
            (
                "1000000000000301".to_string(),
                row("failed", "northwind-sandbox", "/Development")
            ),
        ])
    );
    // Each member was read as itself, through its role, and its account resource says
    // where it sits.
    let account = &json_lines(&ramsync(
        &[
            "resources",
            "--db",
            db,
            "--type",
            "account",
            "--account",
            "1000000000000101",
            "--json",
        ],
        &[],
    ))[0];
    assert_eq!(account["id"], "1000000000000101");
    assert_eq!(account["attributes"]["folder_path"], "/Production/Web");
    assert_eq!(account["attributes"]["resource_directory_id"], "rd-k4Nw7Q");
    assert_eq!(
        account["attributes"]["caller_arn"],
        "acs:ram::1000000000000101:assumed-role/ResourceDirectoryAccountAccessRole/ramsync"
    );
    let users: Vec<String> = json_lines(&ramsync(
        &[
            "resources",
            "--db",
            db,
            "--type",
            "user",
            "--account",
            "1000000000000201",
            "--json",
        ],
        &[],
    ))
    .iter()
    .map(|u| u["name"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(
        users.iter().all(|u| u.ends_with("@nw-dev.onaliyun.com")),
        "{users:?}"
    );
}

/// `--endpoint` for every product at the mock, Resource Manager included.
fn directory_endpoints(mock: &Mock) -> Vec<String> {
    let mut args = mock.endpoint_args();
    args.extend([
        "--endpoint".to_string(),
        format!("resourcemanager={}", mock.url()),
    ]);
    args
}

#[test]
fn sync_resource_directory_selects_by_folder_and_account_and_queries_cross_accounts() {
    let mock = Mock::start(MockOptions::sample_directory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("org.db");
    let db = db.to_str().unwrap();
    // Development, less the sandbox (which has no member role), and prod-web by its
    // folder id; the management account left out by its id.
    let mut args: Vec<String> = [
        "sync",
        "--db",
        db,
        "--resource-directory",
        "--include",
        "/Development",
        "--include",
        "fd-Web3Lm9",
        "--exclude",
        "1000000000000301",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(directory_endpoints(&mock));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ramsync(&args, &demo_env());
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.contains("1000000000000101 northwind-prod-web /Production/Web"),
        "{summary}"
    );
    assert!(
        summary.contains("1000000000000201 northwind-dev /Development"),
        "{summary}"
    );
    assert!(
        !summary.contains("sandbox") && !summary.contains("5284719302648173"),
        "{summary}"
    );
    assert_eq!(
        mock.server().calls()["resourcemanager:GetResourceDirectory"],
        1
    );

    // A user of northwind-dev reaches DevReadOnly in northwind-prod-web: the role trusts the
    // whole dev account, and dev.lee's own policy allows sts:AssumeRole.
    let access = stdout(&ramsync(
        &[
            "access",
            "--db",
            db,
            "--account",
            "1000000000000201",
            "--principal",
            "dev.lee",
        ],
        &[],
    ));
    assert!(
        access.contains("user:dev.lee@nw-dev.onaliyun.com -> account:1000000000000201 -> role:northwind-prod-web/DevReadOnly -> policy:northwind-prod-web/ReadOnlyAccess"),
        "{access}"
    );
    let who = stdout(&ramsync(
        &[
            "who-can",
            "--db",
            db,
            "--account",
            "1000000000000101",
            "ecs:DescribeInstances",
        ],
        &[],
    ));
    assert!(
        who.contains("user:dev.lee@nw-dev.onaliyun.com -> account:acs:ram::1000000000000201:root -> role:DevReadOnly -> policy:ReadOnlyAccess (statement 1)"),
        "{who}"
    );
    // dev.kim may not call sts:AssumeRole, so the account's trust does not reach it.
    assert!(!who.contains("dev.kim"), "{who}");
    // The grant names the other member account, in the table and in JSON.
    let grants = json_lines(&ramsync(
        &[
            "grants",
            "--db",
            db,
            "--account",
            "1000000000000101",
            "--json",
        ],
        &[],
    ));
    let trust = grants
        .iter()
        .find(|g| g["resource_name"] == "DevReadOnly" && g["entitlement"] == "assume")
        .unwrap();
    assert_eq!(trust["principal_account_name"], "northwind-dev");
    assert_eq!(trust["principal_folder_path"], "/Development");
    let findings = stdout(&ramsync(
        &["findings", "--db", db, "--account", "1000000000000101"],
        &[],
    ));
    assert!(
        findings.contains("trusts acs:ram::1000000000000201:root (northwind-dev in /Development of the resource directory) of another account"),
        "{findings}"
    );
}

#[test]
fn a_config_file_syncs_its_accounts_and_its_resource_directory() {
    let mock = Mock::start(MockOptions::sample_directory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("org.db");
    let db = db.to_str().unwrap();
    let url = mock.url();
    let config = dir.path().join("ramsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[account]]
name = "mgmt"
endpoints = {{ ram = "{url}", ims = "{url}", sts = "{url}" }}

[resource_directory]
endpoints = {{ ram = "{url}", ims = "{url}", sts = "{url}", resourcemanager = "{url}" }}
exclude = ["5284719302648173"]
"#
        ),
    )
    .unwrap();
    let out = ramsync(
        &["sync", "--db", db, "--config", config.to_str().unwrap()],
        &demo_env(),
    );
    // The sandbox has no member role: the run fails for it alone.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 of 4 accounts did not complete")
            && err.contains("1000000000000301 northwind-sandbox /Development"),
        "{err}"
    );
    let runs: BTreeMap<String, String> = json_lines(&ramsync(&["runs", "--db", db, "--json"], &[]))
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        BTreeMap::from([
            ("mgmt".to_string(), "complete".to_string()),
            ("1000000000000101".to_string(), "complete".to_string()),
            ("1000000000000201".to_string(), "complete".to_string()),
            ("1000000000000301".to_string(), "failed".to_string()),
        ])
    );
}

#[test]
fn a_database_of_the_previous_schema_is_still_read() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v3.db");
    let db = db.to_str().unwrap();
    mock.sync(db);
    // As the previous release left it: schema version 3, no directory table.
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TABLE directory_accounts; PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);
    for args in [
        vec!["runs", "--db", db],
        vec!["grants", "--db", db],
        vec!["findings", "--db", db],
        vec!["who-can", "--db", db, "ecs:DescribeInstances"],
    ] {
        let out = ramsync(&args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn progress_json_reports_each_account_and_type_with_an_eta_from_the_last_sync() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    let run = || {
        let mut args = vec!["sync", "--db", db, "--progress", "json"];
        let endpoints = mock.endpoint_args();
        args.extend(endpoints.iter().map(String::as_str));
        let out = ramsync(&args, &demo_env());
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("event").is_some())
            .collect::<Vec<Value>>()
    };
    let first = run();
    let of = |events: &[Value], kind: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    };
    let started = of(&first, "account_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["account"], "default");
    assert!(
        started[0]["expected_api_calls"].is_null(),
        "no earlier sync"
    );
    // Every type starts and ends, with the counts the store has.
    let done = of(&first, "type_done");
    let users = done
        .iter()
        .find(|e| e["resource_type"] == "user" && e["plugin"] == "users")
        .unwrap();
    let expected = expected_sample();
    assert_eq!(users["resources"], expected.users.len());
    assert_eq!(users["failed"], false);
    let types: BTreeSet<String> = of(&first, "type_started")
        .iter()
        .map(|e| e["resource_type"].as_str().unwrap().to_string())
        .collect();
    for t in ["account", "user", "group", "role", "policy", "access-key"] {
        assert!(types.contains(t), "{t} in {types:?}");
    }
    let finished = of(&first, "account_done");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "complete");
    let calls = finished[0]["api_calls"].as_u64().unwrap();
    assert!(calls > 100, "{calls}");
    // The last progress event before the end has the final counts per type.
    let last = of(&first, "progress").pop().unwrap();
    assert_eq!(last["types"]["group"]["resources"], expected.groups.len());
    assert_eq!(last["api_calls"], calls);
    // A second sync expects as many calls as the first made, and estimates the time left.
    let second = run();
    assert_eq!(
        of(&second, "account_started")[0]["expected_api_calls"],
        calls
    );
    assert!(
        of(&second, "progress")
            .iter()
            .any(|e| e["eta_seconds"].as_f64().is_some_and(|s| s >= 0.0)),
        "an ETA while calls remain"
    );
}
