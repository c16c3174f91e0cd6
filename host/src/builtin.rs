//! The plugin components built by `build.rs` and embedded in the binary.

/// A plugin shipped inside the `ramsync` binary.
pub struct BuiltinPlugin {
    pub name: &'static str,
    pub wasm: &'static [u8],
}

macro_rules! builtin {
    ($name:literal) => {
        BuiltinPlugin {
            name: $name,
            wasm: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")),
        }
    };
}

/// The signer.
pub const SIGNER: BuiltinPlugin = builtin!("signer-acs3");

/// The syncers, in the order a sync runs them.
pub const SYNCERS: &[BuiltinPlugin] = &[
    builtin!("account"),
    builtin!("users"),
    builtin!("access-keys"),
    builtin!("mfa-and-login"),
    builtin!("groups"),
    builtin!("roles"),
    builtin!("policies"),
];
