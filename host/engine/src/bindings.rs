//! Host bindings generated from the WIT contract (`wit/`), one module per world.
#![allow(missing_docs)] // generated code

/// The signer world: a plugin that signs requests.
pub mod signer {
    wasmtime::component::bindgen!({
        world: "signer-plugin",
        path: "../../wit",
        exports: { default: async },
    });
}
/// The syncer world: a plugin that lists (and may provision) a resource type.
pub mod syncer {
    wasmtime::component::bindgen!({
        world: "syncer-plugin",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "ramsync:connector/types": super::signer::ramsync::connector::types },
    });
}
