//! What plugins exchange with the host, mirroring the records and variants of
//! `wit/connector.wit` (the engine converts between these and the generated bindings).

/// A key/value pair: query parameters, headers, resource attributes.
pub type Pair = (String, String);

/// Identifies one resource within a sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    /// The resource type id, for example `user` or `group`.
    pub resource_type: String,
    /// The provider's stable id, for example a UserId.
    pub id: String,
}

/// One synced resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its type and id.
    pub ref_: ResourceRef,
    /// The name a person or policy refers to it by, for example a UserPrincipalName.
    pub name: String,
    /// A human-friendly name; may equal `name`.
    pub display_name: String,
    /// The resource it belongs to, if the type is nested.
    pub parent: Option<ResourceRef>,
    /// Type-specific attributes, for example `status` for users.
    pub attributes: Vec<Pair>,
}

/// Something a resource grants, for example membership of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// The resource offering the entitlement.
    pub resource: ResourceRef,
    /// A short stable name, for example `member`.
    pub slug: String,
    /// A human-friendly name.
    pub display_name: String,
    /// The principal resource types this entitlement can be granted to.
    pub grantable_to: Vec<String>,
}

/// One principal holding one entitlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The resource offering the entitlement.
    pub resource: ResourceRef,
    /// The entitlement's slug on that resource.
    pub entitlement: String,
    /// Who holds it; an empty id asks the store to match the principal by name.
    pub principal: ResourceRef,
    /// The principal's name as the API reported it.
    pub principal_name: String,
    /// Grant-specific attributes, for example a join date.
    pub attributes: Vec<Pair>,
}

/// A page of resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePage {
    /// The resources on this page.
    pub items: Vec<Resource>,
    /// The token for the next page; none when this was the last one.
    pub next_page_token: Option<String>,
}

/// A page of entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementPage {
    /// The entitlements on this page.
    pub items: Vec<Entitlement>,
    /// The token for the next page; none when this was the last one.
    pub next_page_token: Option<String>,
}

/// A page of grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPage {
    /// The grants on this page.
    pub items: Vec<Grant>,
    /// The token for the next page; none when this was the last one.
    pub next_page_token: Option<String>,
    /// Attributes learned while listing grants, merged into the resource's own.
    pub resource_attributes: Vec<Pair>,
}

/// What the API said when it refused or failed a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The API action, for example `ListUsers`.
    pub action: String,
    /// The API error code, for example `NoPermission`; empty when there was none.
    pub code: String,
    /// A human-readable message; never contains a secret.
    pub message: String,
    /// The RequestId of the failed call; empty when unknown.
    pub request_id: String,
}

/// A throttling error with its retry hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Milliseconds to wait before retrying.
    pub retry_after_ms: u64,
    /// The error details.
    pub detail: ApiError,
}

/// A plugin's typed error, as the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The credential was rejected.
    Unauthorized(ApiError),
    /// The credential lacks permission for the action.
    Forbidden(ApiError),
    /// The API throttled the call.
    Throttled(Throttle),
    /// The entity asked about does not exist.
    NotFound(ApiError),
    /// A server-side or network failure worth retrying.
    Transient(ApiError),
    /// The API answered with something that could not be understood.
    BadResponse(ApiError),
    /// The host passed something the plugin cannot use.
    InvalidInput(String),
    /// The change conflicts with the current state.
    Conflict(ApiError),
}

/// Facts about the resource type a syncer handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// The resource type id, for example `user`.
    pub id: String,
    /// A human-friendly name, for example `User`.
    pub display_name: String,
    /// When set, resources of this type are listed per resource of that parent type.
    pub parent_type: Option<String>,
    /// True when resources of this type offer no entitlements.
    pub skip_entitlements_and_grants: bool,
    /// The entitlement slugs this syncer's provisioner can grant and revoke.
    pub provisions: Vec<String>,
    /// True when this syncer adds to a type another syncer lists.
    pub enriches: bool,
}

/// An HTTP request to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, for example `POST`.
    pub method: String,
    /// The host name, with the port if not the default.
    pub host: String,
    /// The path, `/` for RPC APIs.
    pub path: String,
    /// Query parameters, unencoded.
    pub query: Vec<Pair>,
    /// Headers; names are matched case-insensitively.
    pub headers: Vec<Pair>,
    /// The body.
    pub body: Vec<u8>,
}

/// A signature and how it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Headers to add to the request, `authorization` among them.
    pub headers: Vec<Pair>,
    /// The canonical request that was signed.
    pub canonical_request: String,
    /// The string that was signed.
    pub string_to_sign: String,
}

/// What a grant or revoke did, or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The API product and action, for example `ram AddUserToGroup`.
    pub action: String,
    /// The parameters of that call.
    pub parameters: Vec<Pair>,
    /// False when nothing needed doing.
    pub changed: bool,
    /// A sentence for the operator.
    pub message: String,
}

/// A one-line form of an API error: `Action returned Code: message (RequestId ...)`.
pub fn api_line(e: &ApiError) -> String {
    let mut s = e.action.to_string();
    if !e.code.is_empty() {
        s.push_str(&format!(" returned {}", e.code));
    }
    if !e.message.is_empty() {
        s.push_str(&format!(": {}", e.message));
    }
    if !e.request_id.is_empty() {
        s.push_str(&format!(" (RequestId {})", e.request_id));
    }
    s
}

/// A one-line form of a plugin error.
pub fn plugin_error_line(e: &PluginError) -> String {
    match e {
        PluginError::Unauthorized(a)
        | PluginError::Forbidden(a)
        | PluginError::NotFound(a)
        | PluginError::Transient(a)
        | PluginError::BadResponse(a)
        | PluginError::Conflict(a) => api_line(a),
        PluginError::Throttled(t) => format!(
            "{} (retry after {} ms)",
            api_line(&t.detail),
            t.retry_after_ms
        ),
        PluginError::InvalidInput(m) => m.clone(),
    }
}
