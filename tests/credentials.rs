//! Credentials: STS AssumeRole against the local API, which enforces each role's trust policy.

mod common;

use common::*;
use ramsync::mock::{MockKey, MockOptions};

const OWN: &str = "5284719302648173";
const VENDOR: &str = "1688001234567890";

fn mock() -> Mock {
    let mut options = MockOptions::sample().unwrap();
    options.keys.insert(
        "LTAIvendorbot".into(),
        MockKey::foreign_user("vendor-secret", VENDOR, "vendor-bot"),
    );
    options.keys.insert(
        "LTAIcideployer".into(),
        MockKey::user("ci-secret", "ci-deployer"),
    );
    Mock::start(options)
}

fn sync_as(mock: &Mock, db: &str, id: &str, secret: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sync".to_string(), "--db".to_string(), db.to_string()];
    args.extend(mock.endpoint_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ramsync(
        &args,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", id),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret),
        ],
    )
}

fn caller_arn(db: &str) -> String {
    let accounts = json_lines(&ramsync(
        &["resources", "--db", db, "--json", "--type", "account"],
        &[],
    ));
    accounts[0]["attributes"]["caller_arn"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_vendor_assumes_the_byoc_role_with_its_external_id() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    let role = format!("acs:ram::{OWN}:role/vendorbyocaccess");

    let out = sync_as(
        &mock,
        db,
        "LTAIvendorbot",
        "vendor-secret",
        &[
            "--assume-role",
            &role,
            "--external-id",
            "nw-7f3c2a91",
            "-vv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        caller_arn(db),
        format!("acs:ram::{OWN}:assumed-role/VendorByocAccess/ramsync")
    );
    assert_eq!(
        mock.server().calls()["sts:AssumeRole"],
        1,
        "one AssumeRole for the whole sync"
    );
    assert!(
        !stderr(&out).contains("vendor-secret") && !stderr(&out).contains("CAIS"),
        "no secret or token in the logs"
    );
    assert!(
        !stderr(&out).contains("nw-7f3c2a91"),
        "the ExternalId is not logged"
    );
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(4).any(|w| w == b"CAIS"),
            "no STS token in the database"
        );
    }

    // Without the ExternalId, or with a wrong one, the trust policy refuses.
    let out = sync_as(
        &mock,
        db,
        "LTAIvendorbot",
        "vendor-secret",
        &["--assume-role", &role],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "AssumeRole {role} refused: NoPermission (ExternalId required?"
        )),
        "{err}"
    );
    let out = sync_as(
        &mock,
        db,
        "LTAIvendorbot",
        "vendor-secret",
        &["--assume-role", &role, "--external-id", "guess"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is the ExternalId right?"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("vendor-secret"));
    // The failed runs left the good one readable.
    assert_eq!(
        caller_arn(db),
        format!("acs:ram::{OWN}:assumed-role/VendorByocAccess/ramsync")
    );
}

#[test]
fn role_chains_and_untrusted_callers() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let db = db.to_str().unwrap();
    let deploy = format!("acs:ram::{OWN}:role/deployrole");
    let audit = format!("acs:ram::{OWN}:role/auditreader");

    // ci-deployer -> DeployRole -> AuditReader (which trusts DeployRole).
    let out = sync_as(
        &mock,
        db,
        "LTAIcideployer",
        "ci-secret",
        &[
            "--assume-role",
            &deploy,
            "--assume-role",
            &audit,
            "--duration-seconds",
            "900",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        caller_arn(db),
        format!("acs:ram::{OWN}:assumed-role/AuditReader/ramsync")
    );
    assert_eq!(mock.server().calls()["sts:AssumeRole"], 2);

    // The demo user is not trusted by DeployRole.
    let out = sync_as(&mock, db, DEMO_ID, DEMO_SECRET, &["--assume-role", &deploy]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("AssumeRole {deploy} refused: NoPermission")),
        "{}",
        stderr(&out)
    );

    // A role that does not exist, and a malformed ARN.
    let out = sync_as(
        &mock,
        db,
        DEMO_ID,
        DEMO_SECRET,
        &["--assume-role", &format!("acs:ram::{OWN}:role/nope")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("EntityNotExist.Role"),
        "{}",
        stderr(&out)
    );
    let out = sync_as(
        &mock,
        db,
        DEMO_ID,
        DEMO_SECRET,
        &["--assume-role", "deployrole"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--assume-role takes a role ARN"),
        "{}",
        stderr(&out)
    );
    let out = sync_as(&mock, db, DEMO_ID, DEMO_SECRET, &["--external-id", "x"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--external-id needs --assume-role"
    );
}

#[test]
fn profiles_of_the_cli_config_and_the_chain_order() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"current":"deploy","profiles":[
              {{"name":"reader","mode":"AK","access_key_id":"{DEMO_ID}","access_key_secret":"{DEMO_SECRET}"}},
              {{"name":"deploy","mode":"RamRoleArn","access_key_id":"LTAIcideployer","access_key_secret":"ci-secret",
                "ram_role_arn":"acs:ram::{OWN}:role/deployrole","ram_session_name":"from-profile","expired_seconds":900}},
              {{"name":"audit","mode":"ChainableRamRoleArn","source_profile":"deploy","ram_role_arn":"acs:ram::{OWN}:role/auditreader"}}]}}"#
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let db = dir.path().join("p.db");
    let db = db.to_str().unwrap();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["sync".to_string(), "--db".to_string(), db.to_string()];
        args.extend(mock.endpoint_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env = env.to_vec();
        env.push(("RAMSYNC_ALIYUN_CONFIG", config));
        let out = ramsync(&args, &env);
        assert!(out.status.success(), "{}", stderr(&out));
        caller_arn(db)
    };
    // The file's current profile, a RamRoleArn one.
    assert_eq!(
        run(&[], &[]),
        format!("acs:ram::{OWN}:assumed-role/DeployRole/from-profile")
    );
    // ALIBABA_CLOUD_PROFILE, then --profile, choose another; a chainable profile chains.
    assert_eq!(
        run(&[], &[("ALIBABA_CLOUD_PROFILE", "reader")]),
        format!("acs:ram::{OWN}:user/ramsync-reader")
    );
    assert_eq!(
        run(&["--profile", "audit"], &[]),
        format!("acs:ram::{OWN}:assumed-role/AuditReader/ramsync")
    );
    // The environment variables come first in the chain.
    assert_eq!(
        run(&[], &demo_env()),
        format!("acs:ram::{OWN}:user/ramsync-reader")
    );

    let mut args = vec![
        "sync".to_string(),
        "--db".to_string(),
        db.to_string(),
        "--profile".into(),
        "nope".into(),
    ];
    args.extend(mock.endpoint_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ramsync(&args, &[("RAMSYNC_ALIYUN_CONFIG", config)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no profile named \"nope\" (profiles: reader, deploy, audit)"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("ci-secret"));
}
