//! The syncer components outside ramsync's host: transpiled to JavaScript by jco and run by
//! Node.js, with the JS host in tests/second-runtime (its own `auth` signing, `endpoints` and
//! a checked wasi:http sender), they list the same pages from the local API as
//! `ramsync run-plugin` does in wasmtime.

mod common;

use common::*;
use ramsync::mock::{MockOptions, Tenant};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// target/second-runtime: the JS host's files and its npm packages (`npm ci` from the
/// committed lock file, once per lock file).
fn node_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let source = repo_root().join("tests/second-runtime");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"))
            .join("second-runtime");
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
        }
        let lock = std::fs::read_to_string(source.join("package-lock.json")).unwrap();
        let stamp = target.join("node_modules/.installed-lock.json");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&target)
                .output()
                .expect("npm (with Node.js 20 or later) is needed to run a syncer under jco");
            assert!(
                out.status.success(),
                "npm ci in {} failed: {}",
                target.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(&stamp, lock).unwrap();
        }
        target
    })
    .clone()
}

fn node(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("node")
        .args(args)
        .current_dir(node_dir())
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("node (Node.js 20 or later) is needed to run a syncer under jco")
}

/// The built-in plugins as files, as `ramsync plugins export` writes them.
fn exported(dir: &Path) -> PathBuf {
    let out = ramsync(&["plugins", "export", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir.to_path_buf()
}

/// `plugin` transpiled by jco into `dir/js-PLUGIN`; returns its entry module.
fn transpiled(plugins: &Path, plugin: &str, dir: &Path) -> PathBuf {
    let out_dir = dir.join(format!("js-{plugin}"));
    let wasm = plugins.join(format!("{plugin}.wasm"));
    let out = node(
        &[
            "transpile.mjs",
            wasm.to_str().unwrap(),
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "jco transpile: {}", stderr(&out));
    let entry = out_dir.join(format!("{plugin}.js"));
    assert!(entry.exists(), "{} missing", entry.display());
    entry
}

/// The pages of `plugin` (syncing `resource_type`, granted `products`) from both runtimes.
fn both_runtimes(
    plugins: &Path,
    js: &Path,
    plugin: &str,
    resource_type: &str,
    products: &str,
    url: &str,
    env: &[(&str, &str)],
) -> (Output, Output) {
    let endpoints: Vec<String> = ["ram", "ims"]
        .iter()
        .flat_map(|p| ["--endpoint".to_string(), format!("{p}={url}")])
        .collect();
    let common: Vec<&str> = [
        "--resource-type",
        resource_type,
        "--products",
        products,
        "--max-resources",
        "3",
    ]
    .into_iter()
    .chain(endpoints.iter().map(String::as_str))
    .collect();
    let mut node_args = vec!["run.mjs", "--component", js.to_str().unwrap()];
    node_args.extend(&common);
    let in_node = node(&node_args, env);
    let wasm = plugins.join(format!("{plugin}.wasm"));
    let mut args = vec!["run-plugin", wasm.to_str().unwrap()];
    args.extend(&common);
    let in_wasmtime = ramsync(&args, env);
    (in_node, in_wasmtime)
}

fn pages(out: &Output, runtime: &str) -> Vec<Value> {
    assert!(out.status.success(), "{runtime}: {}", stderr(out));
    json_lines(out)
}

#[test]
fn a_syncer_runs_under_jco_and_node_with_the_same_result_as_run_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = exported(&dir.path().join("plugins"));
    let mock = Mock::sample();
    let url = mock.url();
    let env = demo_env();

    // Users: one page of the sample tenant, every user with its attributes.
    let users_js = transpiled(&plugins, "users", dir.path());
    let before = mock.server().total_calls();
    let (in_node, in_wasmtime) =
        both_runtimes(&plugins, &users_js, "users", "user", "ims", &url, &env);
    let (node_pages, wasmtime_pages) = (pages(&in_node, "node"), pages(&in_wasmtime, "wasmtime"));
    assert_eq!(node_pages, wasmtime_pages);
    let users: Vec<&Value> = node_pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .collect();
    assert_eq!(users.len(), expected_sample().users.len());
    assert_eq!(
        node_pages[0]["api_calls"],
        serde_json::json!(["ims:ListUsers"])
    );
    // Both runtimes' requests reached the local API and passed its signature check.
    assert_eq!(mock.server().total_calls() - before, 2);

    // Groups: entitlements, and grants from a second product's calls.
    let groups_js = transpiled(&plugins, "groups", dir.path());
    let (in_node, in_wasmtime) = both_runtimes(
        &plugins, &groups_js, "groups", "group", "ims,ram", &url, &env,
    );
    let node_pages = pages(&in_node, "node");
    assert_eq!(node_pages, pages(&in_wasmtime, "wasmtime"));
    assert!(
        node_pages
            .iter()
            .any(|p| p["call"] == "grants" && !p["items"].as_array().unwrap().is_empty()),
        "{node_pages:?}"
    );

    // A wrong secret is refused by the local API in both: the JS host really signs.
    let wrong = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", DEMO_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret"),
    ];
    let (in_node, in_wasmtime) =
        both_runtimes(&plugins, &users_js, "users", "user", "ims", &url, &wrong);
    assert!(!in_node.status.success());
    assert!(!in_wasmtime.status.success());
    assert!(
        stderr(&in_node).contains("SignatureDoesNotMatch"),
        "{}",
        stderr(&in_node)
    );
    assert!(
        stderr(&in_wasmtime).contains("SignatureDoesNotMatch"),
        "{}",
        stderr(&in_wasmtime)
    );
}

#[test]
fn pages_follow_the_same_tokens_in_both_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = exported(&dir.path().join("plugins"));
    let tenant = Tenant::synthetic("users=2500,groups=2,roles=1,policies=1").unwrap();
    let mock = Mock::start(MockOptions::with_tenant(tenant));
    let users_js = transpiled(&plugins, "users", dir.path());
    let (in_node, in_wasmtime) = both_runtimes(
        &plugins,
        &users_js,
        "users",
        "user",
        "ims",
        &mock.url(),
        &demo_env(),
    );
    let node_pages = pages(&in_node, "node");
    assert_eq!(node_pages, pages(&in_wasmtime, "wasmtime"));
    let sizes: Vec<usize> = node_pages
        .iter()
        .map(|p| p["items"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [1000, 1000, 500]);
}

#[test]
fn the_js_signer_matches_the_published_test_vector() {
    let out = node(&["--test", "acs3.test.mjs"], &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("# fail 0"), "{}", stdout(&out));
}
