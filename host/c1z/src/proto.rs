//! The `c1.connector.v2` messages a c1z file stores, with baton-sdk's field numbers
//! (proto/c1/connector/v2/resource.proto, entitlement.proto, grant.proto,
//! annotation_trait.proto, annotation_grant.proto, annotation_resource_tree.proto). Only
//! the fields ramsync fills are declared; a reader skips none it knows.

use prost_types::{Any, Struct, Timestamp};

/// The prefix of an annotation's type URL.
const TYPE_URL_PREFIX: &str = "type.googleapis.com/c1.connector.v2.";

/// An annotation: `message` packed in a `google.protobuf.Any` under its full name.
pub fn annotation(name: &str, message: &impl prost::Message) -> Any {
    Any {
        type_url: format!("{TYPE_URL_PREFIX}{name}"),
        value: message.encode_to_vec(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Trait {
    Unspecified = 0,
    User = 1,
    Group = 2,
    Role = 3,
    App = 4,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceType {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub display_name: String,
    #[prost(enumeration = "Trait", repeated, tag = "3")]
    pub traits: Vec<i32>,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceId {
    #[prost(string, tag = "1")]
    pub resource_type: String,
    #[prost(string, tag = "2")]
    pub resource: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ResourceStatusValue {
    Unspecified = 0,
    Enabled = 1,
    Disabled = 2,
    Deleted = 3,
}

/// `Resource.Status` and, with the same numbers, `UserTrait.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(enumeration = "ResourceStatusValue", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub details: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    #[prost(string, tag = "5")]
    pub description: String,
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "12")]
    pub created_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Purpose {
    Unspecified = 0,
    Assignment = 1,
    Permission = 2,
    Ownership = 3,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entitlement {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(string, tag = "2")]
    pub id: String,
    #[prost(string, tag = "3")]
    pub display_name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    #[prost(enumeration = "Purpose", tag = "7")]
    pub purpose: i32,
    #[prost(string, tag = "8")]
    pub slug: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Grant {
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Email {
    #[prost(string, tag = "1")]
    pub address: String,
    #[prost(bool, tag = "2")]
    pub is_primary: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum AccountType {
    Unspecified = 0,
    Human = 1,
    Service = 2,
    System = 3,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MfaStatus {
    #[prost(bool, tag = "1")]
    pub mfa_enabled: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserTrait {
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<Email>,
    /// Deprecated in baton-sdk for `Resource.status`, which newer SDKs also set; older
    /// readers look here only.
    #[prost(message, optional, tag = "2")]
    pub status: Option<Status>,
    #[prost(enumeration = "AccountType", tag = "5")]
    pub account_type: i32,
    #[prost(string, tag = "6")]
    pub login: String,
    #[prost(message, optional, tag = "9")]
    pub last_login: Option<Timestamp>,
    #[prost(message, optional, tag = "10")]
    pub mfa_status: Option<MfaStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupTrait {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RoleTrait {}

/// A grant's own attributes (conditions, dates), as baton's `GrantMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GrantMetadata {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<Struct>,
}

/// On a resource type whose resources have no entitlements of their own.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SkipEntitlementsAndGrants {}
