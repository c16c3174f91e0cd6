//! Conformance against the official Alibaba Cloud Python SDK from PyPI: the signer must
//! produce the SDK's Authorization, and the SDK's own clients must read the local API and be
//! refused by it where the real service refuses them. The SDK is installed into a venv
//! under target/ on first use.

mod common;

use common::*;
use ramsync::credentials::Credential;
use ramsync::engine::{HttpRequest, Limits, Signer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/conformance").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn signer_matches_the_sdk_on_generated_requests() {
    let cases: Vec<Value> = run_python("signer_vectors.py", &["400"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 400);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = ramsync::engine::new_engine().unwrap();
    let signer = Signer::load(
        &engine,
        "signer-acs3",
        ramsync::builtin::signer(),
        Limits::default(),
    )
    .unwrap();
    let (mut tokens, mut unicode) = (0, 0);
    for case in &cases {
        let query = pairs(&case["query"]);
        let headers = pairs(&case["headers"]);
        let expected = case["authorization"].as_str().unwrap();
        let (ak, sk) = (
            case["access_key_id"].as_str().unwrap(),
            case["access_key_secret"].as_str().unwrap(),
        );
        unicode += query.iter().any(|(_, v)| !v.is_ascii()) as usize;

        let native = ramsync_acs3::sign(
            &ramsync_acs3::SigningInput {
                method: case["method"].as_str().unwrap(),
                path: "/",
                query: &query,
                headers: &headers,
                hashed_payload: case["payload_hash"].as_str().unwrap(),
            },
            ak,
            sk,
        );
        assert_eq!(
            native.authorization, expected,
            "native signer differs on {case}"
        );

        let token = case["security_token"].as_str().map(str::to_string);
        tokens += token.is_some() as usize;
        let request = HttpRequest {
            method: case["method"].as_str().unwrap().into(),
            host: case["host"].as_str().unwrap().into(),
            path: "/".into(),
            query,
            headers: headers
                .into_iter()
                .filter(|(k, _)| k != "x-acs-security-token")
                .collect(),
            body: case["body"].as_str().unwrap().as_bytes().to_vec(),
        };
        let signature = runtime
            .block_on(signer.sign(&request, &Credential::new(ak, sk, token)))
            .unwrap()
            .unwrap();
        let authorization = signature
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            authorization,
            Some(expected),
            "signer component differs on {case}"
        );
    }
    assert!(
        tokens > 50 && unicode > 50,
        "the generated cases cover STS tokens ({tokens}) and Unicode ({unicode})"
    );
}

#[test]
fn sdk_clients_read_the_local_api_and_are_refused_like_the_real_one() {
    let mock = Mock::sample();
    let endpoint = mock.url().trim_start_matches("http://").to_string();
    let out: Value = serde_json::from_str(&run_python(
        "sdk_clients.py",
        &[&endpoint, DEMO_ID, DEMO_SECRET],
    ))
    .unwrap();
    let expected = expected_sample();

    let users: BTreeMap<String, String> =
        serde_json::from_value::<BTreeMap<String, String>>(out["users"].clone())
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, if v == "freeze" { "frozen".into() } else { v }))
            .collect();
    assert_eq!(users, expected.users);
    assert_eq!(out["user_pages"], expected.users.len().div_ceil(7));
    let active: Vec<String> = expected
        .users
        .iter()
        .filter(|(_, s)| *s == "active")
        .map(|(u, _)| u.clone())
        .collect();
    assert_eq!(
        out["users_without_status"],
        serde_json::json!(active),
        "IMS ListUsers without Status returns active users only"
    );

    assert_eq!(out["groups"], serde_json::json!(expected.groups));
    assert_eq!(out["group_pages"], expected.groups.len().div_ceil(3));
    let members: Vec<[String; 2]> = expected
        .members
        .iter()
        .map(|(g, u)| [g.clone(), u.clone()])
        .collect();
    assert_eq!(out["members"], serde_json::json!(members));
    assert_eq!(out["roles"], serde_json::json!(expected.roles));
    assert_eq!(out["role_pages"], expected.roles.len().div_ceil(2));
    let policies: Vec<[String; 2]> = expected
        .policies
        .iter()
        .map(|(n, t)| [n.clone(), t.clone()])
        .collect();
    assert_eq!(out["policies"], serde_json::json!(policies));
    assert_eq!(out["account_id"], expected.account_id.as_str());
    assert_eq!(out["alias"], expected.alias.as_str());

    // AccessKeys (RAM by login name, IMS by principal name), login profiles and MFA
    // devices, read through the SDK's own response models.
    let keys: BTreeSet<(String, String, String)> = out["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let (id, created) = (k[1].as_str().unwrap(), k[3].as_str().unwrap());
            let fixture = &expected.access_keys[id].2;
            assert!(fixture == "recent" || fixture == created, "{k}");
            (
                k[0].as_str().unwrap().to_string(),
                id.to_string(),
                k[2].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = expected
        .access_keys
        .iter()
        .map(|(id, (upn, status, _))| (upn.clone(), id.clone(), status.clone()))
        .collect();
    assert_eq!(keys, want);
    assert_eq!(out["ims_access_keys"], out["access_keys"]);
    assert_eq!(out["own_access_keys"], serde_json::json!([DEMO_ID]));
    let profiles: BTreeMap<String, (String, bool, bool)> = out["login_profiles"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(upn, p)| {
            (
                upn.clone(),
                (
                    p["status"].as_str().unwrap().to_string(),
                    p["password_reset_required"].as_bool().unwrap(),
                    p["mfa_bind_required"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(profiles, expected.login_profiles);
    let without: Vec<&String> = expected
        .users
        .keys()
        .filter(|u| !expected.login_profiles.contains_key(*u))
        .collect();
    assert_eq!(out["no_login_profile"], serde_json::json!(without));
    let mut devices: Vec<(String, Option<String>)> = expected
        .mfa_devices
        .iter()
        .map(|(upn, serial)| (serial.clone(), Some(upn.clone())))
        .chain(
            expected
                .unbound_mfa_devices
                .iter()
                .map(|s| (s.clone(), None)),
        )
        .collect();
    devices.sort();
    assert_eq!(out["mfa_devices"], serde_json::json!(devices));
    assert_eq!(out["mfa_pages"], devices.len().div_ceil(10));

    // The credential report, through the SDK's models: generated in the background (the
    // SDK saw it start, or run, and complete), paged by NextToken under one GeneratedTime,
    // the account first, then one row per user agreeing with the per-user calls.
    let states = out["report_states"].as_array().unwrap();
    assert!(
        states.contains(&serde_json::json!("COMPLETED")),
        "{states:?}"
    );
    assert!(states.len() >= 2, "generation takes a while: {states:?}");
    let rows = out["report"].as_object().unwrap();
    assert_eq!(rows.len(), expected.users.len() + 1);
    assert_eq!(out["report_pages"], rows.len().div_ceil(25));
    assert_eq!(out["report_generated_times"], 1);
    assert_eq!(out["report_columns"][0], "user");
    assert_eq!(rows["<root>"]["password_exist"], "TRUE");
    for upn in expected.users.keys() {
        let row = &rows[upn.as_str()];
        let profile = expected.login_profiles.get(upn);
        let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
        assert_eq!(row["password_exist"], flag(profile.is_some()), "{upn}");
        if let Some((status, _, _)) = profile {
            assert_eq!(row["password_active"], flag(status == "Active"), "{upn}");
        }
        assert_eq!(
            row["mfa_active"],
            flag(expected.mfa_devices.contains_key(upn)),
            "{upn}"
        );
        let mut keys: Vec<&Value> = out["ims_access_keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k[0] == upn.as_str())
            .collect();
        keys.sort_by_key(|k| k[1].as_str().unwrap().to_string());
        let exist =
            |slot: usize| row[format!("access_key_{slot}_exist")].as_str().unwrap() == "TRUE";
        assert_eq!((1..=2).filter(|&s| exist(s)).count(), keys.len(), "{upn}");
    }
    // The report's last use of each key is what GetAccessKeyLastUsed says.
    let last_used = out["access_key_last_used"].as_object().unwrap();
    assert_eq!(last_used.len(), expected.access_keys.len());
    for k in out["ims_access_keys"].as_array().unwrap() {
        let row = &rows[k[0].as_str().unwrap()];
        let slot = (1..=2)
            .find(|s| row[format!("access_key_{s}_last_rotated")] == k[3])
            .unwrap_or_else(|| panic!("{k} is in the report"));
        let reported = row[format!("access_key_{slot}_last_used")]
            .as_str()
            .unwrap();
        match &last_used[k[1].as_str().unwrap()] {
            Value::String(date) => assert_eq!(reported, date, "{k}"),
            _ => assert_eq!(reported, "-", "{k}"),
        }
    }

    assert_eq!(out["errors"]["wrong_secret"], "SignatureDoesNotMatch");
    assert_eq!(out["errors"]["unknown_key"], "InvalidAccessKeyId.NotFound");
    assert_eq!(
        out["errors"]["max_items_too_large"],
        "InvalidParameter.MaxItems"
    );
    assert_eq!(out["errors"]["unknown_group"], "EntityNotExist.Group");
    assert_eq!(
        out["errors"]["unknown_policy_version"],
        "EntityNotExist.Policy.Version"
    );

    // The documents the SDK reads, by GetPolicy and by GetPolicyVersion, are the ones ramsync
    // stores for each attached policy, and only attached ones are read.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("documents.db");
    let db = db.to_str().unwrap();
    mock.sync(db);
    let stored: BTreeMap<String, String> = json_lines(&ramsync(
        &["resources", "--db", db, "--type", "policy", "--json"],
        &[],
    ))
    .iter()
    .filter_map(|p| {
        Some((
            p["name"].as_str()?.to_string(),
            p["attributes"]["policy_document"].as_str()?.to_string(),
        ))
    })
    .collect();
    let read = out["policy_documents"].as_object().unwrap();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        read.keys().collect::<Vec<_>>()
    );
    for (name, document) in &stored {
        assert_eq!(read[name]["document"], document.as_str(), "{name}");
        assert_eq!(read[name]["version_document"], document.as_str(), "{name}");
        assert_eq!(read[name]["is_default"], true, "{name}");
    }
    // The account's password policy and security preference, as the SDK's models read them,
    // are exactly what ramsync stored (a field the models lack would be missing here), and the
    // root identity's AccessKeys are those of the report's <root> row.
    let account = &json_lines(&ramsync(
        &["resources", "--db", db, "--type", "account", "--json"],
        &[],
    ))[0]["attributes"];
    for (attribute, sdk) in [
        ("password_policy", "password_policy"),
        ("security_preference", "security_preference"),
    ] {
        let stored: Value = serde_json::from_str(account[attribute].as_str().unwrap()).unwrap();
        assert_eq!(stored, out[sdk], "{attribute}");
    }
    assert_eq!(out["password_policy"]["MinimumPasswordLength"], 8);
    assert_eq!(out["password_policy"]["MaxLoginAttemps"], 5);
    let root = &out["report"]["<root>"];
    let root_keys: Value =
        serde_json::from_str(account["root_access_keys"].as_str().unwrap()).unwrap();
    assert_eq!(root["access_key_1_exist"], "TRUE");
    assert_eq!(root_keys[0]["created"], root["access_key_1_last_rotated"]);
    assert_eq!(root_keys[0]["last_used"], root["access_key_1_last_used"]);
    assert_eq!(root["access_key_2_exist"], "FALSE");
    assert_eq!(root_keys.as_array().unwrap().len(), 1);
    assert_eq!(account["root_mfa_active"], root["mfa_active"] == "TRUE");

    let admin: Value = serde_json::from_str(&stored["AdministratorAccess"]).unwrap();
    assert_eq!(admin["Statement"][0]["Action"], "*");
    assert!(stored["ReadOnlyAccess"].contains("*:Describe*"));
    assert_eq!(
        out["errors"]["mfa_max_items_too_large"],
        "InvalidParameter.MaxItems"
    );
    assert_eq!(out["errors"]["unknown_user_keys"], "EntityNotExist.User");
    assert_eq!(out["raw"]["fresh"], 200);
    assert_eq!(out["raw"]["stale_date"], "InvalidTimeStamp.Expired");
    assert_eq!(out["raw"]["reused_nonce"], "SignatureNonceUsed");
    assert_eq!(out["raw"]["unsigned"], "IncompleteSignature");
}

#[test]
fn sdk_resource_manager_reads_the_directory_and_reaches_each_member() {
    let mock = Mock::start(ramsync::mock::MockOptions::sample_directory().unwrap());
    let endpoint = mock.url().trim_start_matches("http://").to_string();
    let out: Value = serde_json::from_str(&run_python(
        "sdk_directory.py",
        &[&endpoint, DEMO_ID, DEMO_SECRET],
    ))
    .unwrap();
    // The directory, through the SDK's models: to_map keeps only the fields they know, so a
    // field the local API added or misspelt would be missing here.
    let rd = &out["directory"];
    assert_eq!(rd["ResourceDirectoryId"], "rd-k4Nw7Q");
    assert_eq!(rd["RootFolderId"], "r-Nw2023");
    assert_eq!(rd["MasterAccountId"], "5284719302648173");
    for key in ["MasterAccountName", "CreateTime", "ControlPolicyStatus"] {
        assert!(rd[key].is_string(), "{key} in {rd}");
    }
    assert_eq!(
        out["folders"],
        serde_json::json!({
            "r-Nw2023": "/",
            "fd-Prod8Kd2": "/Production",
            "fd-Web3Lm9": "/Production/Web",
            "fd-Dev5Qa1": "/Development",
        })
    );
    // One folder a page: two for the root's two children, one for Production's one, and an
    // empty page for each of the two leaves.
    assert_eq!(out["folder_pages"], 5);
    assert_eq!(out["account_pages"], 2);
    let accounts = out["accounts"].as_object().unwrap();
    let summary: BTreeMap<String, (String, String, String)> = accounts
        .iter()
        .map(|(id, a)| {
            let s = |k: &str| a[k].as_str().unwrap().to_string();
            (id.clone(), (s("display_name"), s("folder"), s("type")))
        })
        .collect();
    let row = |n: &str, f: &str, t: &str| (n.to_string(), f.to_string(), t.to_string());
    assert_eq!(
        summary,
        BTreeMap::from([
            (
                "5284719302648173".to_string(),
                row("northwind", "/", "CloudAccount")
            ),
            (
                "1000000000000101".to_string(),
                row("northwind-prod-web", "/Production/Web", "ResourceAccount")
            ),
            (
                "1000000000000201".to_string(),
                row("northwind-dev", "/Development", "ResourceAccount")
            ),
            (
                "1000000000000301".to_string(),
                row("northwind-sandbox", "/Development", "CloudAccount")
            ),
        ])
    );
    assert_eq!(
        accounts["1000000000000101"]["path"],
        "rd-k4Nw7Q/r-Nw2023/fd-Prod8Kd2/fd-Web3Lm9/1000000000000101"
    );
    assert_eq!(
        out["accounts_by_folder"]["/Development"],
        serde_json::json!(["1000000000000201", "1000000000000301"])
    );
    assert_eq!(
        out["accounts_by_folder"]["/Production"],
        serde_json::json!([])
    );
    assert_eq!(out["unknown_folder"], "EntityNotExists.Folder");
    assert_eq!(out["page_size_too_large"], "InvalidParameter.PageSize");
    // Each member, reached through ResourceDirectoryAccountAccessRole with the SDK's STS
    // client, is its own account with its own users and settings; the invited one without
    // the role refuses, and a member may not list the directory.
    let members = &out["members"];
    assert_eq!(members["1000000000000301"]["error"], "EntityNotExist.Role");
    let dev = &members["1000000000000201"];
    assert_eq!(dev["caller_account"], "1000000000000201");
    assert_eq!(
        dev["caller_arn"],
        "acs:ram::1000000000000201:assumed-role/ResourceDirectoryAccountAccessRole/sdk"
    );
    assert_eq!(
        dev["users"],
        serde_json::json!(["dev.kim@nw-dev.onaliyun.com", "dev.lee@nw-dev.onaliyun.com"])
    );
    assert_eq!(dev["password_policy"]["MinimumPasswordLength"], 14);
    assert_eq!(dev["directory_from_member"], "NoPermission");
    assert_eq!(
        members["1000000000000101"]["users"],
        serde_json::json!([
            "web-admin@nw-prod-web.onaliyun.com",
            "web-deployer@nw-prod-web.onaliyun.com"
        ])
    );
}
