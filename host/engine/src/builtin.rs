//! The plugin components built by `build.rs` and embedded in the binary, with their
//! manifest, so that `ramsync` stays a single file.

/// The manifest of the embedded plugins, in run order (the signer first).
pub const MANIFEST: &str = include_str!(concat!(env!("OUT_DIR"), "/plugins.json"));

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$((concat!($name, ".wasm"), include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")))),*]
    };
}

/// (file name, bytes) of each embedded plugin.
const FILES: &[(&str, &[u8])] = embedded![
    "signer-acs3",
    "account",
    "users",
    "credential-report",
    "access-keys",
    "mfa-and-login",
    "groups",
    "roles",
    "policies"
];

/// The bytes of an embedded plugin file.
pub fn wasm(file: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(f, _)| *f == file).map(|(_, b)| *b)
}

/// The built-in signer, for tools and benchmarks that sign without a plugin set.
pub fn signer() -> &'static [u8] {
    wasm("signer-acs3.wasm").expect("the signer is embedded")
}
