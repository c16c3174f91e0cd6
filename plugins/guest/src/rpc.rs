//! Signed Alibaba Cloud RPC calls over wasi:http.

use crate::bindings::ramsync::connector::{auth, endpoints, types::HttpRequest};
use crate::json::Json;
use crate::{ApiError, Error, Throttle};
use std::time::Duration;

/// An Alibaba Cloud API product and its version.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// The name the host knows its endpoint by: `ram`, `ims` or `sts`.
    pub name: &'static str,
    /// The API version sent as `x-acs-version`.
    pub version: &'static str,
}

impl Product {
    /// RAM, 2015-05-01.
    pub const RAM: Product = Product {
        name: "ram",
        version: "2015-05-01",
    };
    /// IMS, 2019-08-15.
    pub const IMS: Product = Product {
        name: "ims",
        version: "2019-08-15",
    };
    /// STS, 2015-04-01.
    pub const STS: Product = Product {
        name: "sts",
        version: "2015-04-01",
    };
}

/// One page of a paged list call.
pub struct Page {
    /// The whole response.
    pub body: Json,
    /// The marker for the next page, when `IsTruncated` was true.
    pub next_marker: Option<String>,
}

/// Throttling without an `x-acs-retry-after` hint waits this long before the host retries.
const DEFAULT_RETRY_AFTER_MS: u64 = 1000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The host ends bodies past 16 MiB; a larger declared length is refused before reading.
const MAX_BODY_BYTES: u64 = 16 << 20;

/// A client for one product's RPC API.
pub struct Rpc {
    product: Product,
    base_url: String,
    host: String,
}

impl Rpc {
    /// A client for `product`, at the base URL the host configured for it.
    pub fn new(product: Product) -> Result<Self, Error> {
        let base_url = endpoints::base_url(product.name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "no endpoint is configured for product {}",
                product.name
            ))
        })?;
        let base_url = base_url.trim_end_matches('/').to_string();
        let host = base_url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidInput(format!("endpoint {base_url:?} is not a URL")))?
            .to_string();
        Ok(Rpc {
            product,
            base_url,
            host,
        })
    }

    /// Calls `action` with `params` and returns the JSON response.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Json, Error> {
        let query: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            ("x-acs-action".to_string(), action.to_string()),
            (
                "x-acs-version".to_string(),
                self.product.version.to_string(),
            ),
        ];
        // The query is encoded once; the same string is signed and sent.
        let canonical = ramsync_acs3::canonical_query(&query);
        let request = HttpRequest {
            method: "POST".into(),
            host: self.host.clone(),
            path: "/".into(),
            query,
            headers: headers.clone(),
            body: Vec::new(),
        };
        let signed = auth::sign(&request)?;
        let url = if canonical.is_empty() {
            format!("{}/", self.base_url)
        } else {
            format!("{}/?{canonical}", self.base_url)
        };
        let mut wire_headers = Vec::new();
        for (name, value) in headers
            .into_iter()
            .filter(|(k, _)| k != "host")
            .chain(signed)
        {
            let name = waki::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::InvalidInput(format!("invalid header name {name:?}")))?;
            wire_headers.push((name, value));
        }
        let response = waki::Client::new()
            .post(&url)
            .headers(wire_headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .send()
            .map_err(|e| transient(action, format!("request failed: {e}")))?;
        let status = response.status_code();
        let retry_after = response
            .header("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let header_request_id = response
            .header("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let declared = response
            .header("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = declared.filter(|n| *n > MAX_BODY_BYTES) {
            return Err(Error::BadResponse(ApiError {
                action: action.into(),
                code: String::new(),
                message: format!(
                    "HTTP {status} with a body of {length} bytes, more than the {} MiB a response may have",
                    MAX_BODY_BYTES >> 20
                ),
                request_id: header_request_id,
            }));
        }
        let body = response
            .body()
            .map_err(|e| transient(action, format!("reading the response failed: {e}")))?;
        if (200..300).contains(&status) && retry_after.is_none() {
            return Json::parse(action, &body, &header_request_id);
        }
        Err(error_from_response(
            action,
            status,
            retry_after,
            &body,
            &header_request_id,
        ))
    }

    /// Calls a paged list action for one page of at most `max_items`.
    pub fn page(
        &self,
        action: &str,
        params: &[(&str, &str)],
        max_items: u32,
        marker: Option<&str>,
    ) -> Result<Page, Error> {
        let max = max_items.to_string();
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("MaxItems", &max));
        if let Some(marker) = marker {
            all.push(("Marker", marker));
        }
        let body = self.call(action, &all)?;
        let truncated = body.root().opt_bool("IsTruncated")?.unwrap_or(false);
        let next_marker = if truncated {
            let marker = body.root().str("Marker")?;
            if marker.is_empty() {
                return Err(body.bad("IsTruncated is true but Marker is empty"));
            }
            if Some(marker) == marker_ref(&all) {
                return Err(body.bad("the API returned the same Marker again"));
            }
            Some(marker.to_string())
        } else {
            None
        };
        Ok(Page { body, next_marker })
    }
}

fn marker_ref<'a>(params: &[(&str, &'a str)]) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == "Marker").map(|(_, v)| *v)
}

fn transient(action: &str, message: String) -> Error {
    Error::Transient(ApiError {
        action: action.into(),
        code: String::new(),
        message,
        request_id: String::new(),
    })
}

/// Maps an error response to the WIT error variant by its `Code`, then its HTTP status.
fn error_from_response(
    action: &str,
    status: u16,
    retry_after: Option<u64>,
    body: &[u8],
    header_request_id: &str,
) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let code = field("Code");
    let mut message = field("Message");
    if let Some(detail) = parsed.as_ref().and_then(|v| v.get("AccessDeniedDetail")) {
        let get = |k: &str| detail.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        message = format!(
            "{message} (AccessDeniedDetail: AuthAction={}, NoPermissionType={}, PolicyType={}, AuthPrincipalDisplayName={})",
            get("AuthAction"),
            get("NoPermissionType"),
            get("PolicyType"),
            get("AuthPrincipalDisplayName"),
        );
    }
    if parsed.is_none() {
        message = format!("HTTP {status} with a body that is not JSON");
    }
    let e = ApiError {
        action: action.into(),
        code: code.clone(),
        message,
        request_id: Some(field("RequestId"))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| header_request_id.to_string()),
    };
    let is = |prefix: &str| code == prefix || code.starts_with(&format!("{prefix}."));
    if is("Throttling") || retry_after.is_some() || status == 429 {
        return Error::Throttled(Throttle {
            retry_after_ms: retry_after.unwrap_or(DEFAULT_RETRY_AFTER_MS),
            detail: e,
        });
    }
    if is("IncompleteSignature")
        || is("SignatureDoesNotMatch")
        || is("InvalidAccessKeyId")
        || is("InvalidSecurityToken")
        || is("InvalidTimeStamp")
        || status == 401
    {
        return Error::Unauthorized(e);
    }
    if is("NoPermission") || is("Forbidden") || status == 403 {
        return Error::Forbidden(e);
    }
    if is("EntityAlreadyExists") || status == 409 {
        return Error::Conflict(e);
    }
    if is("EntityNotExist") || status == 404 {
        return Error::NotFound(e);
    }
    if is("SignatureNonceUsed") || is("ServiceUnavailable") || is("InternalError") || status >= 500
    {
        return Error::Transient(e);
    }
    if (200..300).contains(&status) {
        return Error::BadResponse(e);
    }
    Error::InvalidInput(format!(
        "{action} rejected the request: HTTP {status} {}: {} (RequestId {})",
        e.code, e.message, e.request_id
    ))
}
