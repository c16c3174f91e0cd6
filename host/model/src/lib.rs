//! The data ramsync's layers share: what a plugin lists (resources, entitlements, grants,
//! in the shape of the WIT contract), the typed errors a plugin call ends with, the API
//! endpoints of an account, and the rows of a sync run as the store keeps them.
//!
//! It owns plain data and the few rules that belong to it (endpoint validation, one-line
//! error forms). It may not depend on wasmtime, SQLite, the network or any other layer:
//! every other crate of the host depends on it, and it on none of them.

#![deny(missing_docs)]

mod endpoints;
mod plugin;
mod run;

pub use endpoints::{Endpoints, PRODUCTS, product_of_version, version_of_product};
pub use plugin::*;
pub use run::*;
