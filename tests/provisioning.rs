//! Provisioning: `ramsync grant` and `revoke` against the local API, which changes its tenant.

mod common;

use common::*;
use ramsync::mock::{Fault, FaultKind, MockOptions};

fn provision(
    mock: &Mock,
    verb: &str,
    entitlement: &str,
    principal: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec![
        verb.to_string(),
        "--entitlement".into(),
        entitlement.into(),
        "--principal".into(),
        principal.into(),
    ];
    args.extend(mock.endpoint_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ramsync(&args, env)
}

fn members_of(mock: &Mock, group: &str) -> Vec<String> {
    let t = mock.server().tenant();
    let g = t.groups.iter().find(|g| g.name == group).unwrap();
    g.members
        .iter()
        .map(|(u, _)| t.users[*u].name.clone())
        .collect()
}

#[test]
fn group_membership_is_granted_and_revoked_idempotently() {
    let mock = Mock::sample();
    let user = "user:bzhao@northwind.onaliyun.com";
    assert!(!members_of(&mock, "admins").contains(&"bzhao".to_string()));

    // Without --yes: the exact call, no change, and no credentials needed.
    let out = provision(&mock, "grant", "group:admins:member", user, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would call: ram AddUserToGroup GroupName=admins UserName=bzhao"),
        "{}",
        stdout(&out)
    );
    assert!(!mock.server().calls().contains_key("ram:AddUserToGroup"));
    assert!(!members_of(&mock, "admins").contains(&"bzhao".to_string()));

    let out = provision(&mock, "grant", "group:admins:member", user, &["--yes"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "{}",
        stderr(&out)
    );

    let out = provision(
        &mock,
        "grant",
        "group:admins:member",
        user,
        &["--yes"],
        &demo_env(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("added bzhao@northwind.onaliyun.com to group admins"),
        "{}",
        stdout(&out)
    );
    assert!(members_of(&mock, "admins").contains(&"bzhao".to_string()));

    let out = provision(
        &mock,
        "grant",
        "group:admins:member",
        user,
        &["--yes"],
        &demo_env(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("already a member") && stdout(&out).contains("nothing to do"),
        "{}",
        stdout(&out)
    );

    let out = provision(
        &mock,
        "revoke",
        "group:admins:member",
        user,
        &["--yes", "--json"],
        &demo_env(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["changed"], true);
    assert_eq!(v["call"], "ram RemoveUserFromGroup");
    assert!(!members_of(&mock, "admins").contains(&"bzhao".to_string()));

    let out = provision(
        &mock,
        "revoke",
        "group:admins:member",
        user,
        &["--yes", "--json"],
        &demo_env(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["changed"], false);
    assert_eq!(mock.server().calls()["ram:AddUserToGroup"], 2);
    assert_eq!(mock.server().calls()["ram:RemoveUserFromGroup"], 2);
}

#[test]
fn policies_attach_to_groups_found_in_the_synced_store() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    mock.sync(db);

    let out = provision(
        &mock,
        "grant",
        "policy:AliyunOSSReadOnlyAccess:attached",
        "group:finance",
        &["--yes", "--db", db],
        &demo_env(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("PolicyType=System PolicyName=AliyunOSSReadOnlyAccess GroupName=finance"),
        "{}",
        stdout(&out)
    );
    // The next sync sees it.
    mock.sync(db);
    let grants = json_lines(&ramsync(&["grants", "--db", db, "--json"], &[]));
    assert!(
        grants
            .iter()
            .any(|g| g["resource_name"] == "AliyunOSSReadOnlyAccess"
                && g["principal_type"] == "group"
                && g["principal_name"] == "finance")
    );

    let out = provision(
        &mock,
        "revoke",
        "policy:AliyunOSSReadOnlyAccess:attached",
        "group:finance",
        &["--yes", "--db", db],
        &demo_env(),
    );
    assert!(stdout(&out).contains("detached"), "{}", stdout(&out));
    let out = provision(
        &mock,
        "revoke",
        "policy:AliyunOSSReadOnlyAccess:attached",
        "group:finance",
        &["--yes", "--db", db],
        &demo_env(),
    );
    assert!(
        out.status.success() && stdout(&out).contains("not attached"),
        "{}",
        stdout(&out)
    );

    let out = provision(
        &mock,
        "grant",
        "policy:NoSuchPolicy:attached",
        "group:finance",
        &["--yes", "--db", db],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no policy named \"NoSuchPolicy\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn refusals_are_clear_and_carry_the_access_denied_detail() {
    let mut options = MockOptions::sample().unwrap();
    options
        .faults
        .push(Fault::new("AttachPolicyToUser", FaultKind::Deny, None));
    let mock = Mock::start(options);
    let out = provision(
        &mock,
        "grant",
        "policy:System:ReadOnlyAccess:attached",
        "user:bzhao",
        &["--yes"],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("permission missing for action ram:AttachPolicyToUser"),
        "{err}"
    );
    assert!(
        err.contains("AccessDeniedDetail: AuthAction=ram:AttachPolicyToUser"),
        "{err}"
    );

    let out = provision(
        &mock,
        "grant",
        "group:admins:member",
        "user:nobody",
        &["--yes"],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("EntityNotExist.User"),
        "{}",
        stderr(&out)
    );

    let out = provision(
        &mock,
        "grant",
        "role:DeployRole:assume",
        "user:bzhao",
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ramsync can grant group:member, policy:attached"),
        "{}",
        stderr(&out)
    );

    let out = provision(
        &mock,
        "grant",
        "group:admins:member",
        "group:finance",
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only users can be group members"),
        "{}",
        stderr(&out)
    );

    let out = provision(&mock, "grant", "admins", "user:bzhao", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("TYPE:NAME:ENTITLEMENT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diff_shows_what_grant_and_revoke_changed() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let db = db.to_str().unwrap();
    mock.sync(db);

    let admin = "user:bzhao@northwind.onaliyun.com";
    assert!(
        provision(
            &mock,
            "grant",
            "group:admins:member",
            admin,
            &["--yes", "--db", db],
            &demo_env()
        )
        .status
        .success()
    );
    assert!(
        provision(
            &mock,
            "revoke",
            "policy:AdministratorAccess:attached",
            "role:OktaAdmins",
            &["--yes", "--db", db],
            &demo_env()
        )
        .status
        .success()
    );
    // A dry run changes nothing.
    assert!(
        provision(
            &mock,
            "grant",
            "group:finance:member",
            admin,
            &["--db", db],
            &demo_env()
        )
        .status
        .success()
    );
    mock.sync(db);

    let out = ramsync(&["diff", "--db", db], &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stdout(&out).lines().skip(1).map(str::to_string).collect();
    assert_eq!(
        lines,
        vec![
            format!("+ group:admins member {admin}"),
            "- policy:AdministratorAccess attached role:OktaAdmins".to_string(),
        ]
    );
}
