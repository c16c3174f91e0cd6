//! The error answer of the local API, shared by signature checks, the actions and STS.

use serde_json::Value;

/// An error answer, in the shape of the real gateway's.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The error code in the body, for example `EntityNotExist.User`.
    pub code: String,
    /// The human-readable message in the body.
    pub message: String,
    /// Sent as `x-acs-retry-after`, in milliseconds, when the caller should wait.
    pub retry_after_ms: Option<u64>,
    /// Sent as the body's `AccessDeniedDetail` when a call is refused for lack of permission.
    pub access_denied: Option<Value>,
}

impl ApiFailure {
    /// A failure with the given status, code and message, and no retry hint or denial detail.
    pub fn new(status: u16, code: &str, message: &str) -> Self {
        ApiFailure {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_ms: None,
            access_denied: None,
        }
    }
}
