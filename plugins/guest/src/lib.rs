//! Shared code for ramsync syncer plugins.
//!
//! - `bindings`: the `syncer-plugin` world of the WIT contract, with an `export_syncer!` macro.
//! - [`Rpc`]: Alibaba Cloud RPC calls over wasi:http (waki), signed by the host through `auth`.
//! - [`page`]: `Marker`/`IsTruncated`/`MaxItems` paging.
//! - Error bodies mapped to the WIT error variant; JSON helpers that fail as `bad-response`.

#![deny(missing_docs)]

/// The `syncer-plugin` world's generated bindings.
#[allow(missing_docs)] // generated code
pub mod bindings {
    wit_bindgen::generate!({
        world: "syncer-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_syncer",
        default_bindings_module: "ramsync_guest::bindings",
    });
}

pub mod credential_report;
mod json;
mod provision;
mod rpc;

pub use bindings::exports::ramsync::connector::provisioner::{Change, Guest as Provisioner};
pub use bindings::exports::ramsync::connector::syncer::Guest as Syncer;
pub use bindings::ramsync::connector::types::{
    ApiError, Entitlement, EntitlementPage, Error, Grant, GrantPage, Resource, ResourcePage,
    ResourceRef, Throttle, TypeInfo,
};
pub use json::{Json, Object};
pub use provision::{Mutation, login_name};
pub use rpc::{Page, Product, Rpc};

/// A resource reference.
pub fn resource_ref(resource_type: &str, id: &str) -> ResourceRef {
    ResourceRef {
        resource_type: resource_type.to_string(),
        id: id.to_string(),
    }
}

/// A resource attribute by name.
pub fn attribute<'a>(resource: &'a Resource, key: &str) -> Option<&'a str> {
    resource
        .attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An empty entitlement page, for types that offer none.
pub fn no_entitlements() -> EntitlementPage {
    EntitlementPage {
        items: Vec::new(),
        next_page_token: None,
    }
}

/// An empty grant page, for types that grant nothing.
pub fn no_grants() -> GrantPage {
    GrantPage {
        items: Vec::new(),
        next_page_token: None,
        resource_attributes: Vec::new(),
    }
}

/// Implements `provisioner` for a syncer that provisions nothing.
#[macro_export]
macro_rules! no_provisioning {
    ($t:ty) => {
        impl $crate::Provisioner for $t {
            fn grant(
                _resource: $crate::Resource,
                entitlement: String,
                _principal: $crate::Resource,
                _dry_run: bool,
            ) -> Result<$crate::Change, $crate::Error> {
                Err($crate::Error::InvalidInput(format!(
                    "this syncer cannot grant {entitlement}"
                )))
            }
            fn revoke(
                _resource: $crate::Resource,
                entitlement: String,
                _principal: $crate::Resource,
                _dry_run: bool,
            ) -> Result<$crate::Change, $crate::Error> {
                Err($crate::Error::InvalidInput(format!(
                    "this syncer cannot revoke {entitlement}"
                )))
            }
        }
    };
}
