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
