//! Conversions between the bindings wasmtime generates from the WIT contract and the
//! model types the rest of the host uses, so that nothing above the engine sees wasmtime.

use crate::bindings::signer::exports::ramsync::connector::signer as wit_signer;
use crate::bindings::signer::ramsync::connector::types as wit;
use crate::bindings::syncer::exports::ramsync::connector::provisioner as wit_provisioner;
use ramsync_model as m;

impl From<wit::ResourceRef> for m::ResourceRef {
    fn from(r: wit::ResourceRef) -> Self {
        m::ResourceRef {
            resource_type: r.resource_type,
            id: r.id,
        }
    }
}

impl From<&m::ResourceRef> for wit::ResourceRef {
    fn from(r: &m::ResourceRef) -> Self {
        wit::ResourceRef {
            resource_type: r.resource_type.clone(),
            id: r.id.clone(),
        }
    }
}

impl From<wit::Resource> for m::Resource {
    fn from(r: wit::Resource) -> Self {
        m::Resource {
            ref_: r.ref_.into(),
            name: r.name,
            display_name: r.display_name,
            parent: r.parent.map(Into::into),
            attributes: r.attributes,
        }
    }
}

impl From<&m::Resource> for wit::Resource {
    fn from(r: &m::Resource) -> Self {
        wit::Resource {
            ref_: (&r.ref_).into(),
            name: r.name.clone(),
            display_name: r.display_name.clone(),
            parent: r.parent.as_ref().map(Into::into),
            attributes: r.attributes.clone(),
        }
    }
}

impl From<wit::Entitlement> for m::Entitlement {
    fn from(e: wit::Entitlement) -> Self {
        m::Entitlement {
            resource: e.resource.into(),
            slug: e.slug,
            display_name: e.display_name,
            grantable_to: e.grantable_to,
        }
    }
}

impl From<wit::Grant> for m::Grant {
    fn from(g: wit::Grant) -> Self {
        m::Grant {
            resource: g.resource.into(),
            entitlement: g.entitlement,
            principal: g.principal.into(),
            principal_name: g.principal_name,
            attributes: g.attributes,
        }
    }
}

impl From<wit::ResourcePage> for m::ResourcePage {
    fn from(p: wit::ResourcePage) -> Self {
        m::ResourcePage {
            items: p.items.into_iter().map(Into::into).collect(),
            next_page_token: p.next_page_token,
        }
    }
}

impl From<wit::EntitlementPage> for m::EntitlementPage {
    fn from(p: wit::EntitlementPage) -> Self {
        m::EntitlementPage {
            items: p.items.into_iter().map(Into::into).collect(),
            next_page_token: p.next_page_token,
        }
    }
}

impl From<wit::GrantPage> for m::GrantPage {
    fn from(p: wit::GrantPage) -> Self {
        m::GrantPage {
            items: p.items.into_iter().map(Into::into).collect(),
            next_page_token: p.next_page_token,
            resource_attributes: p.resource_attributes,
        }
    }
}

impl From<wit::ApiError> for m::ApiError {
    fn from(e: wit::ApiError) -> Self {
        m::ApiError {
            action: e.action,
            code: e.code,
            message: e.message,
            request_id: e.request_id,
        }
    }
}

impl From<m::ApiError> for wit::ApiError {
    fn from(e: m::ApiError) -> Self {
        wit::ApiError {
            action: e.action,
            code: e.code,
            message: e.message,
            request_id: e.request_id,
        }
    }
}

impl From<wit::Error> for m::PluginError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::Unauthorized(a) => m::PluginError::Unauthorized(a.into()),
            wit::Error::Forbidden(a) => m::PluginError::Forbidden(a.into()),
            wit::Error::Throttled(t) => m::PluginError::Throttled(m::Throttle {
                retry_after_ms: t.retry_after_ms,
                detail: t.detail.into(),
            }),
            wit::Error::NotFound(a) => m::PluginError::NotFound(a.into()),
            wit::Error::Transient(a) => m::PluginError::Transient(a.into()),
            wit::Error::BadResponse(a) => m::PluginError::BadResponse(a.into()),
            wit::Error::InvalidInput(s) => m::PluginError::InvalidInput(s),
            wit::Error::Conflict(a) => m::PluginError::Conflict(a.into()),
        }
    }
}

impl From<m::PluginError> for wit::Error {
    fn from(e: m::PluginError) -> Self {
        match e {
            m::PluginError::Unauthorized(a) => wit::Error::Unauthorized(a.into()),
            m::PluginError::Forbidden(a) => wit::Error::Forbidden(a.into()),
            m::PluginError::Throttled(t) => wit::Error::Throttled(wit::Throttle {
                retry_after_ms: t.retry_after_ms,
                detail: t.detail.into(),
            }),
            m::PluginError::NotFound(a) => wit::Error::NotFound(a.into()),
            m::PluginError::Transient(a) => wit::Error::Transient(a.into()),
            m::PluginError::BadResponse(a) => wit::Error::BadResponse(a.into()),
            m::PluginError::InvalidInput(s) => wit::Error::InvalidInput(s),
            m::PluginError::Conflict(a) => wit::Error::Conflict(a.into()),
        }
    }
}

impl From<wit::TypeInfo> for m::TypeInfo {
    fn from(t: wit::TypeInfo) -> Self {
        m::TypeInfo {
            id: t.id,
            display_name: t.display_name,
            parent_type: t.parent_type,
            skip_entitlements_and_grants: t.skip_entitlements_and_grants,
            provisions: t.provisions,
            enriches: t.enriches,
        }
    }
}

impl From<wit::HttpRequest> for m::HttpRequest {
    fn from(r: wit::HttpRequest) -> Self {
        m::HttpRequest {
            method: r.method,
            host: r.host,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<&m::HttpRequest> for wit::HttpRequest {
    fn from(r: &m::HttpRequest) -> Self {
        wit::HttpRequest {
            method: r.method.clone(),
            host: r.host.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
        }
    }
}

impl From<wit_signer::Signature> for m::Signature {
    fn from(s: wit_signer::Signature) -> Self {
        m::Signature {
            headers: s.headers,
            canonical_request: s.canonical_request,
            string_to_sign: s.string_to_sign,
        }
    }
}

impl From<wit_provisioner::Change> for m::Change {
    fn from(c: wit_provisioner::Change) -> Self {
        m::Change {
            action: c.action,
            parameters: c.parameters,
            changed: c.changed,
            message: c.message,
        }
    }
}
