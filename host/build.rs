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
    ("ramsync-access-keys", "access-keys"),
    ("ramsync-mfa-and-login", "mfa-and-login"),
    ("ramsync-groups", "groups"),
    ("ramsync-roles", "roles"),
    ("ramsync-policies", "policies"),
];
/// Built for the test suite only, never embedded.
const TEST_PLUGINS: &[(&str, &str)] = &[("ramsync-test-misbehaving", "test-misbehaving")];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
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
    println!(
        "cargo:rustc-env=RAMSYNC_TEST_PLUGIN_DIR={}",
        out_dir.display()
    );
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
