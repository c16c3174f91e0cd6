//! Builds the plugin components for wasm32-wasip2 and puts them in OUT_DIR, where
//! `src/builtin.rs` embeds them. Installs the wasm32-wasip2 target first if it is missing,
//! so a fresh clone needs nothing but `cargo run` / `cargo test`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, artifact file stem, embedded file name)
const PLUGINS: &[(&str, &str)] = &[
    ("ramsync-signer-acs3", "signer-acs3"),
    ("ramsync-account", "account"),
    ("ramsync-users", "users"),
    ("ramsync-credential-report", "credential-report"),
    ("ramsync-access-keys", "access-keys"),
    ("ramsync-mfa-and-login", "mfa-and-login"),
    ("ramsync-groups", "groups"),
    ("ramsync-roles", "roles"),
    ("ramsync-policies", "policies"),
];
/// Built for the test suite only, never embedded: misbehaving syncers, and the
/// authoring guide's example.
const TEST_PLUGINS: &[(&str, &str)] = &[
    ("ramsync-test-misbehaving", "test-misbehaving"),
    ("ramsync-example-teams", "example-teams"),
    ("ramsync-test-slow-type", "test-slow-type"),
];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // This crate is host/engine; the workspace root is two levels up.
    let root = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    for watched in ["plugins", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    // OUT_DIR is <target>/<profile>/build/<pkg>/out; plugins build beside it in <target>/plugins.
    let target_dir = out_dir.ancestors().nth(4).unwrap().join("plugins");

    ensure_wasm_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    for (package, _) in PLUGINS.iter().chain(TEST_PLUGINS) {
        cmd.args(["-p", package]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build the plugins: {e}")));
    if !status.success() {
        fail("building the plugin components for wasm32-wasip2 failed; see the cargo output above");
    }
    for (package, name) in PLUGINS.iter().chain(TEST_PLUGINS) {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let dest = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&built, &dest)
            .unwrap_or_else(|e| fail(&format!("cannot copy {}: {e}", built.display())));
    }
    let wit_version = wit_version(&root.join("wit/connector.wit"));
    println!("cargo:rustc-env=RAMSYNC_WIT_VERSION={wit_version}");
    let version = env::var("CARGO_PKG_VERSION").unwrap();
    let manifest = |plugins: &[(&str, &str)]| -> String {
        let entries: Vec<serde_json::Value> = plugins
            .iter()
            .map(|(_, name)| manifest_entry(&root, &out_dir, name, &version, &wit_version))
            .collect();
        let doc = serde_json::json!({ "format": 1, "plugins": entries });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    };
    std::fs::write(out_dir.join("plugins.json"), manifest(PLUGINS)).unwrap();
    // The test plugins get a manifest of their own in a directory of their own.
    let test_dir = out_dir.join("test-plugins");
    std::fs::create_dir_all(&test_dir).unwrap();
    for (_, name) in TEST_PLUGINS {
        std::fs::copy(
            out_dir.join(format!("{name}.wasm")),
            test_dir.join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    std::fs::write(test_dir.join("plugins.json"), manifest(TEST_PLUGINS)).unwrap();
    // For the tests of the packages that depend on this one (see `links` in Cargo.toml).
    println!("cargo:test_plugin_dir={}", test_dir.display());
}

/// The version in the WIT file's `package ramsync:connector@VERSION;` line.
fn wit_version(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("package ramsync:connector@")
                .and_then(|v| v.strip_suffix(';'))
        })
        .unwrap_or_else(|| {
            fail("wit/connector.wit has no `package ramsync:connector@VERSION;` line")
        })
        .to_string()
}

/// A plugins.json entry: what the plugin's Cargo.toml declares, and the built file's digest.
fn manifest_entry(
    root: &Path,
    out_dir: &Path,
    name: &str,
    version: &str,
    wit_version: &str,
) -> serde_json::Value {
    use sha2::Digest;
    let cargo_toml = root.join("plugins").join(name).join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo_toml)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", cargo_toml.display())));
    let doc: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", cargo_toml.display())));
    let meta = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("ramsync"))
        .unwrap_or_else(|| {
            fail(&format!(
                "{} has no [package.metadata.ramsync] table",
                cargo_toml.display()
            ))
        });
    let strings = |key: &str| -> Vec<String> {
        meta.get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let wasm = std::fs::read(out_dir.join(format!("{name}.wasm"))).unwrap();
    serde_json::json!({
        "name": name,
        "file": format!("{name}.wasm"),
        "version": version,
        "kind": meta.get("kind").and_then(|v| v.as_str()).unwrap_or("syncer"),
        "resource_types": strings("resource-types"),
        "wit_version": wit_version,
        "sha256": hex::encode(sha2::Sha256::digest(&wasm)),
        "capabilities": {
            "products": strings("products"),
            "provisions": meta.get("provisions").and_then(|v| v.as_bool()).unwrap_or(false),
            "actions": strings("actions"),
            "provision_actions": strings("provision-actions"),
        },
    })
}

/// rustup does not add targets on its own when RUSTUP_AUTO_INSTALL=0, so add it here.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    if let Ok(output) = output {
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success()
            && !dir.is_empty()
            && Path::new(&dir).join("..").exists()
            && has_std(&dir)
        {
            return;
        }
    }
    println!(
        "cargo:warning=installing the {TARGET} Rust target with rustup (needed to build the plugins)"
    );
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(_) | Err(_) => fail(&format!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed; install it by hand and build again"
        )),
    }
}

fn has_std(libdir: &str) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
