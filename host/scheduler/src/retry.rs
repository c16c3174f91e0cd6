//! Retries with backoff, and what a failed call means for the operator.

use crate::options::SyncOptions;
use ramsync_engine::{CallContext, CallError, PluginError};
use ramsync_model::{api_line, plugin_error_line};
use std::time::Duration;

/// The wait before attempt `attempt + 1`, or None when the error is not worth retrying.
/// Throttling waits at least as long as the API's `x-acs-retry-after` asks.
pub fn backoff(error: &CallError, attempt: u32, max: Duration) -> Option<Duration> {
    let exponential =
        Duration::from_millis(200u64.saturating_mul(1 << attempt.clamp(1, 10).saturating_sub(1)));
    let base = match error {
        CallError::Plugin(PluginError::Throttled(t)) => {
            exponential.max(Duration::from_millis(t.retry_after_ms))
        }
        CallError::Plugin(PluginError::Transient(_)) | CallError::Timeout(_) => exponential,
        _ => return None,
    };
    // Up to 25% jitter so that parallel calls do not retry in lockstep.
    let jitter = rand::random_range(0.0..0.25);
    Some(base.mul_f64(1.0 + jitter).min(max))
}

/// Throttling says "later", not "broken", so it gets more attempts than other failures.
fn attempts_for(error: &CallError, options: &SyncOptions) -> u32 {
    match error {
        CallError::Plugin(PluginError::Throttled(_)) => options.max_attempts.saturating_mul(3),
        _ => options.max_attempts,
    }
}

pub(crate) async fn retry<T, F, Fut>(
    options: &SyncOptions,
    what: &str,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match backoff(&e, attempt, options.max_backoff) {
                Some(wait) if attempt < attempts_for(&e, options) => {
                    tracing::info!(what, attempt, wait_ms = wait.as_millis() as u64, error = %error_line(&e), "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}

/// A one-line form of a call error.
pub fn error_line(e: &CallError) -> String {
    match e {
        CallError::Plugin(p) => plugin_error_line(p),
        CallError::Denied { host } => format!("denied host {host}"),
        CallError::NotGranted { product, host, .. } => {
            format!("denied product {product} at {host}")
        }
        CallError::Trap(m) => m.clone(),
        CallError::Refused(m) => format!("refused {m}"),
        CallError::Timeout(d) => format!("timed out after {d:?}"),
        CallError::Credentials(m) => m.clone(),
    }
}

/// What failed and what to do about it, in a sentence or two.
pub fn describe(
    plugin: &str,
    resource_type: &str,
    what: &str,
    e: &CallError,
    ctx: &CallContext,
    options: &SyncOptions,
) -> String {
    use ramsync_credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};
    match e {
        CallError::Plugin(PluginError::Unauthorized(a)) => format!(
            "keys rejected: {}. Check {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (and {ENV_SECURITY_TOKEN} for STS credentials), that the AccessKey is active, and that this machine's clock is correct.",
            api_line(a)
        ),
        CallError::Plugin(PluginError::Forbidden(a)) => format!(
            "permission missing for action ram:{}: {}. Attach the read-only policy from the README to this identity and sync again.",
            a.action,
            api_line(a)
        ),
        CallError::Plugin(PluginError::Throttled(t)) => format!(
            "still throttled after {} attempts: {}. Lower --qps or --concurrency, or sync later.",
            options.max_attempts.saturating_mul(3),
            api_line(&t.detail)
        ),
        CallError::Plugin(PluginError::Transient(a)) => format!(
            "failed after {} attempts while {what}: {}. Check the endpoint ({}) and the network, then sync again.",
            options.max_attempts,
            api_line(a),
            ctx.endpoints.describe()
        ),
        CallError::Plugin(PluginError::BadResponse(a)) => {
            format!("bad response while {what}: {}", api_line(a))
        }
        CallError::Plugin(PluginError::NotFound(a)) => {
            format!("not found while {what}: {}", api_line(a))
        }
        CallError::Plugin(PluginError::Conflict(a)) => {
            format!("conflict while {what}: {}", api_line(a))
        }
        CallError::Plugin(PluginError::InvalidInput(m)) => {
            format!("plugin {plugin} could not proceed while {what}: {m}")
        }
        CallError::NotGranted {
            product,
            host,
            granted,
        } => format!(
            "product not granted: plugin {plugin} tried to call {product} at {host}, but its manifest grants it only {}",
            if granted.is_empty() {
                "no products".to_string()
            } else {
                granted.join(", ")
            }
        ),
        CallError::Denied { host } => format!(
            "host not allowed: plugin {plugin} tried to reach {host}, which is not an allowed endpoint (allowed: {}). If the API really lives there, allow it with --endpoint PRODUCT=URL.",
            ctx.endpoints.describe()
        ),
        CallError::Trap(m) => format!(
            "plugin {plugin} {m} while {what}; the {resource_type} resources of this sync are incomplete"
        ),
        CallError::Refused(m) => format!(
            "refused: plugin {plugin} made a request the host does not allow while {what}: {m}"
        ),
        CallError::Timeout(d) => format!(
            "plugin {plugin} did not finish {what} within {d:?}, after {} attempts",
            options.max_attempts
        ),
        CallError::Credentials(m) => format!("credentials: {m}"),
    }
}
