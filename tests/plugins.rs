//! Plugins as artifacts: manifests and digests, verification, capabilities, --plugin-dir,
//! export, the authoring guide's example and the local runner.

mod common;

use common::*;
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};

fn test_plugin(name: &str) -> PathBuf {
    Path::new(env!("RAMSYNC_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

fn export(dir: &Path) {
    let out = ramsync(&["plugins", "export", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("plugins.json")).unwrap()).unwrap()
}

fn write_manifest(dir: &Path, m: &Value) {
    std::fs::write(
        dir.join("plugins.json"),
        serde_json::to_string_pretty(m).unwrap(),
    )
    .unwrap();
}

fn entry<'a>(m: &'a mut Value, name: &str) -> &'a mut Value {
    m["plugins"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["name"] == name)
        .unwrap()
}

fn verify(dir: &Path) -> std::process::Output {
    ramsync(
        &["plugins", "verify", "--plugin-dir", dir.to_str().unwrap()],
        &[],
    )
}

fn sync_with(mock: &Mock, db: &str, plugin_dir: Option<&Path>) -> std::process::Output {
    let mut args = vec!["sync".to_string(), "--db".into(), db.into()];
    args.extend(mock.endpoint_args());
    if let Some(d) = plugin_dir {
        args.extend(["--plugin-dir".to_string(), d.to_str().unwrap().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ramsync(&args, &demo_env())
}

fn snapshot(db: &str) -> (String, String) {
    let run = |cmd: &str| stdout(&ramsync(&[cmd, "--db", db, "--json"], &[]));
    (run("resources"), run("grants"))
}

#[test]
fn the_manifest_lists_every_plugin_with_the_digest_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path());
    let listed = json_lines(&ramsync(&["plugins", "list", "--json"], &[]));
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "signer-acs3",
            "account",
            "users",
            "credential-report",
            "access-keys",
            "mfa-and-login",
            "groups",
            "roles",
            "policies"
        ]
    );
    for p in &listed {
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "capabilities",
                "kind",
                "name",
                "resource_types",
                "sha256",
                "version",
                "wit_version"
            ]
        );
        let file = dir
            .path()
            .join(format!("{}.wasm", p["name"].as_str().unwrap()));
        let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
        assert_eq!(p["sha256"], digest.as_str(), "{}", file.display());
        assert_eq!(p["wit_version"], "0.2.0");
    }
    let users = listed.iter().find(|p| p["name"] == "users").unwrap();
    assert_eq!(users["kind"], "syncer");
    assert_eq!(users["resource_types"], serde_json::json!(["user"]));
    assert_eq!(
        users["capabilities"],
        serde_json::json!({"products": ["ims"], "provisions": false})
    );
    let signer = &listed[0];
    assert_eq!(signer["kind"], "signer");
    assert_eq!(
        signer["capabilities"],
        serde_json::json!({"products": [], "provisions": false})
    );
    // The exported manifest is the built-in one, and verifies.
    // The credential report's GenerateCredentialReport is no List*/Get* action: it is named.
    let report = listed
        .iter()
        .find(|p| p["name"] == "credential-report")
        .unwrap();
    assert_eq!(
        report["capabilities"],
        serde_json::json!({"products": ["ims"], "provisions": false, "actions": ["ims:GenerateCredentialReport"]})
    );
    // The exported manifest is the built-in one, and verifies.
    assert_eq!(manifest(dir.path())["plugins"].as_array().unwrap().len(), 9);
    let out = verify(dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("all 9 plugins verified and loaded"));
}

#[test]
fn a_tampered_byte_a_missing_entry_or_a_wrong_wit_version_is_refused() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");

    // One changed byte.
    export(&plugins);
    let file = plugins.join("roles.wasm");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let out = verify(&plugins);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}: refused: sha256 mismatch", file.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A sync refuses to start, names the file, and writes nothing.
    let db = dir.path().join("t.db");
    let out = sync_with(&mock, db.to_str().unwrap(), Some(&plugins));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("roles.wasm: refused: sha256 mismatch")
            && stderr(&out).contains("nothing was loaded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mock.server().total_calls(), 0);

    // A file without a manifest entry.
    std::fs::remove_dir_all(&plugins).unwrap();
    export(&plugins);
    std::fs::copy(test_plugin("example-teams"), plugins.join("stray.wasm")).unwrap();
    let out = verify(&plugins);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stray.wasm: refused: no entry in plugins.json"),
        "{}",
        stderr(&out)
    );

    // A manifest entry claiming another WIT major version.
    std::fs::remove_dir_all(&plugins).unwrap();
    export(&plugins);
    let mut m = manifest(&plugins);
    entry(&mut m, "groups")["wit_version"] = "0.1.0".into();
    write_manifest(&plugins, &m);
    let out = verify(&plugins);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("groups.wasm: refused: built against WIT 0.1.0; this host accepts 0.2.x"),
        "{}",
        stderr(&out)
    );
    // `plugins list` shows the rest and exits non-zero too.
    let out = ramsync(
        &["plugins", "list", "--plugin-dir", plugins.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("groups"));
    assert!(stdout(&out).contains("policies"));
}

#[test]
fn a_syncer_reaches_only_the_products_it_declares() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    export(&plugins);
    // The policy syncer calls RAM; declared for IMS only it cannot even learn RAM's endpoint.
    let mut m = manifest(&plugins);
    entry(&mut m, "policies")["capabilities"]["products"] = serde_json::json!(["ims"]);
    write_manifest(&plugins, &m);
    let db = dir.path().join("p.db");
    let out = sync_with(&mock, db.to_str().unwrap(), Some(&plugins));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("policy: plugin policies could not proceed while listing policy resources: no endpoint is configured for product ram"),
        "{}",
        stderr(&out)
    );
    assert!(!mock.server().calls().contains_key("ram:ListPolicies"));

    // A plugin that sends a RAM request to the IMS endpoint is stopped by the HTTP policy.
    let mock = Mock::sample();
    mock.runtime.block_on(async {
        let limits = ramsync::engine::Limits::default();
        let plugins = ramsync::engine::Plugins::builtin(limits).await.unwrap();
        let wasm = std::fs::read(test_plugin("test-misbehaving")).unwrap();
        let syncer = ramsync::engine::Syncer::load(
            &plugins.engine,
            "test-misbehaving",
            &wasm,
            limits,
            &ramsync::manifest::Capabilities {
                products: vec!["ims".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let ctx = mock.demo_context(&plugins, limits);
        let result = syncer
            .list_resources(&ctx, None, Some("undeclared-product"))
            .await;
        match result {
            Err(ramsync::engine::CallError::NotGranted {
                product, granted, ..
            }) => {
                assert_eq!(product, "ram");
                assert_eq!(granted, ["ims"]);
            }
            Err(e) => panic!("expected a refusal, got {e:?}"),
            Ok(_) => panic!("the request went through"),
        }
    });
    assert!(!mock.server().calls().contains_key("ram:ListPolicies"));
}

#[test]
fn a_plugin_importing_what_it_is_not_granted_fails_to_load_naming_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    export(&plugins);
    // A syncer (which imports auth and wasi:http) offered as the signer.
    std::fs::remove_file(plugins.join("signer-acs3.wasm")).unwrap();
    let wasm = std::fs::read(test_plugin("example-teams")).unwrap();
    std::fs::write(plugins.join("impostor.wasm"), &wasm).unwrap();
    let mut m = manifest(&plugins);
    let signer = entry(&mut m, "signer-acs3");
    signer["name"] = "impostor".into();
    signer["file"] = "impostor.wasm".into();
    signer["sha256"] = hex::encode(sha2::Sha256::digest(&wasm)).into();
    write_manifest(&plugins, &m);
    let out = verify(&plugins);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("impostor.wasm: refused")
            && err.contains("cannot link: it imports what the host does not grant a signer")
            && err.contains("component imports instance `"),
        "{err}"
    );
}

#[test]
fn exported_plugins_loaded_from_a_directory_sync_the_same_as_the_built_in_ones() {
    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    export(&plugins);
    let builtin_db = dir.path().join("builtin.db");
    let dir_db = dir.path().join("dir.db");
    let out = sync_with(&mock, builtin_db.to_str().unwrap(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sync_with(&mock, dir_db.to_str().unwrap(), Some(&plugins));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        snapshot(dir_db.to_str().unwrap()),
        snapshot(builtin_db.to_str().unwrap())
    );
}

#[test]
fn the_guide_example_builds_is_added_and_syncs_beside_the_built_in_plugins() {
    // The guide shows the example's source as it is in the repository.
    let guide = std::fs::read_to_string(repo_root().join("plugins/README.md")).unwrap();
    let source =
        std::fs::read_to_string(repo_root().join("plugins/example-teams/src/lib.rs")).unwrap();
    assert!(
        guide.contains(source.trim()),
        "plugins/README.md must show plugins/example-teams/src/lib.rs verbatim"
    );

    let mock = Mock::sample();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    export(&plugins);
    let out = ramsync(
        &[
            "plugins",
            "add",
            plugins.to_str().unwrap(),
            test_plugin("example-teams").to_str().unwrap(),
            "--products",
            "ims",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = verify(&plugins);
    assert!(out.status.success(), "{}", stderr(&out));
    let db = dir.path().join("teams.db");
    let db = db.to_str().unwrap();
    let out = sync_with(&mock, db, Some(&plugins));
    assert!(out.status.success(), "{}", stderr(&out));

    let expected = expected_sample();
    let teams: Vec<String> = expected
        .groups
        .iter()
        .filter(|g| ["-eng", "-ops", "-oncall"].iter().any(|s| g.ends_with(s)))
        .cloned()
        .collect();
    let rows = json_lines(&ramsync(
        &["resources", "--db", db, "--type", "team", "--json"],
        &[],
    ));
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, teams);
    let grants = json_lines(&ramsync(&["grants", "--db", db, "--json"], &[]));
    let mut members: Vec<(String, String)> = grants
        .iter()
        .filter(|g| g["resource_type"] == "team")
        .map(|g| {
            (
                g["resource_name"].as_str().unwrap().to_string(),
                g["principal_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    members.sort();
    let want: Vec<(String, String)> = expected
        .members
        .iter()
        .filter(|(g, _)| teams.contains(g))
        .cloned()
        .collect();
    assert_eq!(members, want);
    // Team members resolve to the synced users.
    let users: Vec<Value> = json_lines(&ramsync(
        &["resources", "--db", db, "--type", "user", "--json"],
        &[],
    ));
    let user_ids: Vec<&Value> = users.iter().map(|u| &u["id"]).collect();
    for g in grants.iter().filter(|g| g["resource_type"] == "team") {
        assert!(user_ids.contains(&&g["principal_id"]), "{g}");
    }
}

#[test]
fn run_plugin_prints_each_page_with_its_api_calls() {
    let out = ramsync(
        &[
            "run-plugin",
            test_plugin("example-teams").to_str().unwrap(),
            "--resource-type",
            "team",
            "--max-resources",
            "1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["call"], "list-resources");
    assert_eq!(lines[0]["api_calls"], serde_json::json!(["ims:ListGroups"]));
    let first = lines[0]["items"][0].clone();
    assert_eq!(first["ref"]["type"], "team");
    assert_eq!(lines[1]["call"], "entitlements");
    assert_eq!(lines[1]["items"][0]["slug"], "member");
    assert_eq!(lines[1]["api_calls"], serde_json::json!([]));
    assert_eq!(lines[2]["call"], "grants");
    assert_eq!(
        lines[2]["api_calls"],
        serde_json::json!(["ims:ListUsersForGroup"])
    );
    assert_eq!(lines[2]["resource"], first["ref"]);

    let out = ramsync(
        &[
            "run-plugin",
            test_plugin("example-teams").to_str().unwrap(),
            "--resource-type",
            "group",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("syncs resource type \"team\", not \"group\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn released_wit_versions_stay_frozen() {
    let wit = repo_root().join("wit");
    let current = std::fs::read_to_string(wit.join("connector.wit")).unwrap();
    let version_of = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("package ramsync:connector@"))
            .map(|v| v.trim_end_matches(';').to_string())
            .unwrap()
    };
    let mut released = Vec::new();
    for dir in std::fs::read_dir(wit.join("released")).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(dir.path().join("connector.wit")).unwrap();
        assert_eq!(version_of(&text), name, "{}", dir.path().display());
        released.push((name, text));
    }
    assert!(released.iter().any(|(v, _)| v == "0.1.0"));
    // The version under development is either unreleased or identical to its frozen copy.
    let v = version_of(&current);
    if let Some((_, frozen)) = released.iter().find(|(r, _)| *r == v) {
        assert_eq!(
            &current, frozen,
            "wit/connector.wit {v} differs from its released copy"
        );
    }
}
