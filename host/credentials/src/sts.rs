//! STS AssumeRole, made by the host: the request is signed by the signer plugin and sent
//! only to the configured STS endpoint. Temporary credentials are cached and refreshed
//! before they expire, also during long syncs; chains (key -> role A -> role B) work.

use crate::chain::Credential;
use anyhow::{Result, anyhow, bail};
use ramsync_model::{Endpoints, HttpRequest, PluginError, Signature};
use std::future::Future;
use std::pin::Pin;
use time::OffsetDateTime;

/// What the host's own STS calls need from the engine: a signature from the signer plugin,
/// and one POST to an allowed endpoint. The engine implements it; this crate stays free of
/// wasmtime and of any HTTP client.
pub trait StsHost: Send + Sync {
    /// Signs `request` with `credential`. The outer error is the signer failing (a trap, a
    /// timeout); the inner one is the signer's own typed error.
    fn sign<'a>(
        &'a self,
        request: &'a HttpRequest,
        credential: &'a Credential,
    ) -> BoxFuture<'a, Result<Result<Signature, PluginError>>>;

    /// Sends a POST with these headers and an empty body; the answer's body is capped at 1 MiB.
    fn post<'a>(
        &'a self,
        url: String,
        headers: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<HttpAnswer>>;
}

/// What an endpoint answered.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The `x-acs-retry-after` header, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// The body.
    pub body: Vec<u8>,
}

/// The settings of one AssumeRole step. Its `Debug` form never shows the ExternalId.
#[derive(Clone)]
pub struct AssumeRole {
    /// The role to assume, `acs:ram::<account>:role/<name>`.
    pub role_arn: String,
    /// `RoleSessionName`, which appears in the assumed identity's ARN.
    pub session_name: String,
    /// How long the temporary credentials last, 900 to 43200 seconds.
    pub duration_seconds: u32,
    /// Sent as `ExternalId`; never logged.
    pub external_id: Option<String>,
    /// An inline policy that narrows the session.
    pub policy: Option<String>,
}

impl std::fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("duration_seconds", &self.duration_seconds)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .field("policy", &self.policy)
            .finish()
    }
}

impl AssumeRole {
    /// AssumeRole of `role_arn` with the defaults: session `ramsync`, one hour.
    pub fn new(role_arn: &str) -> Self {
        AssumeRole {
            role_arn: role_arn.into(),
            session_name: "ramsync".into(),
            duration_seconds: 3600,
            external_id: None,
            policy: None,
        }
    }
}

/// Where a sync's credentials come from.
pub enum CredentialSource {
    /// An AccessKey, or STS credentials given as they are.
    Fixed(Credential),
    /// Credentials of a role assumed with the credentials of `base`.
    AssumeRole {
        /// Where the credentials that assume the role come from.
        base: Box<CredentialSource>,
        /// The role and how to assume it.
        spec: AssumeRole,
        /// The credential, when it expires, and how long it was issued for.
        cache: tokio::sync::Mutex<Option<(Credential, OffsetDateTime, time::Duration)>>,
    },
}

/// A boxed future, as [`StsHost`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl CredentialSource {
    /// Assumes `spec` on top of this source.
    pub fn assume(self, spec: AssumeRole) -> Self {
        CredentialSource::AssumeRole {
            base: Box::new(self),
            spec,
            cache: Default::default(),
        }
    }

    /// The credential to use now, assuming (or re-assuming) roles as needed.
    pub fn current<'a>(
        &'a self,
        signer: &'a dyn StsHost,
        endpoints: &'a Endpoints,
    ) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(async move {
            match self {
                CredentialSource::Fixed(c) => Ok(c.clone()),
                CredentialSource::AssumeRole { base, spec, cache } => {
                    let mut cached = cache.lock().await;
                    if let Some((credential, expires, lifetime)) = cached.as_ref()
                        && !needs_refresh(*expires, *lifetime, OffsetDateTime::now_utc())
                    {
                        return Ok(credential.clone());
                    }
                    let base = base.current(signer, endpoints).await?;
                    let issued = OffsetDateTime::now_utc();
                    let (credential, expires) = assume_role(signer, endpoints, &base, spec).await?;
                    tracing::info!(role = %spec.role_arn, expires = %expires, "assumed role");
                    *cached = Some((credential.clone(), expires, expires - issued));
                    Ok(credential)
                }
            }
        })
    }
}

/// Refresh when less than a fifth of the session is left, and at least a minute (or half
/// of a session shorter than two minutes, as STS may grant less than was asked).
pub fn needs_refresh(
    expires: OffsetDateTime,
    lifetime: time::Duration,
    now: OffsetDateTime,
) -> bool {
    let margin = (lifetime / 5_i32).max(time::Duration::minutes(1).min(lifetime / 2_i32));
    expires - now < margin
}

/// What an API answered a host call: the HTTP status, the `x-acs-retry-after` hint and
/// the JSON body.
pub struct HostAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The `x-acs-retry-after` header, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// The body.
    pub json: serde_json::Value,
}

impl HostAnswer {
    /// A string field of the body; empty when absent.
    pub fn field(&self, key: &str) -> &str {
        self.json
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    /// Whether the call is worth repeating: throttled, or a server error.
    pub fn is_transient(&self) -> bool {
        self.status == 429 || self.status >= 500 || self.field("Code").starts_with("Throttling")
    }
}

/// Calls an RPC action of `product` as the host (STS for roles, Resource Manager for a
/// directory's accounts), signed by the signer plugin with `base` and sent only to the
/// product's configured endpoint. `what` names the call in errors.
#[allow(clippy::too_many_arguments)]
pub async fn host_call(
    signer: &dyn StsHost,
    endpoints: &Endpoints,
    base: &Credential,
    product: &str,
    action: &str,
    query: Vec<(String, String)>,
    what: &str,
) -> Result<HostAnswer> {
    let version = ramsync_model::version_of_product(product)
        .ok_or_else(|| anyhow!("{what}: unknown product {product:?}"))?;
    let base_url = endpoints
        .base_url(product)
        .ok_or_else(|| anyhow!("no {product} endpoint is configured"))?;
    let host = endpoints
        .authority(product)
        .ok_or_else(|| anyhow!("the {product} endpoint {base_url} has no host"))?;
    let canonical = ramsync_acs3::canonical_query(&query);
    let headers = vec![
        ("host".to_string(), host.clone()),
        ("x-acs-action".to_string(), action.to_string()),
        ("x-acs-version".to_string(), version.to_string()),
    ];
    let request = HttpRequest {
        method: "POST".into(),
        host,
        path: "/".into(),
        query,
        headers: headers.clone(),
        body: Vec::new(),
    };
    let signature = signer.sign(&request, base).await?.map_err(|e| {
        anyhow!(
            "{what}: signing failed: {}",
            ramsync_model::plugin_error_line(&e)
        )
    })?;
    let wire: Vec<(String, String)> = headers.into_iter().chain(signature.headers).collect();
    let name = product.to_ascii_uppercase();
    let HttpAnswer {
        status,
        retry_after_ms,
        body,
    } = signer
        .post(format!("{base_url}/?{canonical}"), wire)
        .await
        .map_err(|e| anyhow!("{what}: cannot reach {name} at {base_url}: {e:#}"))?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        anyhow!("{what}: {name} answered HTTP {status} with a body that is not JSON")
    })?;
    Ok(HostAnswer {
        status,
        retry_after_ms,
        json,
    })
}

/// Who `credential` is, from STS GetCallerIdentity (which needs no permission), as
/// `ACCOUNT_ID ARN`. Throttling and server errors are retried a few times.
pub async fn caller_identity(
    signer: &dyn StsHost,
    endpoints: &Endpoints,
    credential: &Credential,
) -> Result<String> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let answer = host_call(
            signer,
            endpoints,
            credential,
            "sts",
            "GetCallerIdentity",
            Vec::new(),
            "GetCallerIdentity",
        )
        .await;
        let retry_after = match &answer {
            Ok(a) if (200..300).contains(&a.status) => {
                let field = |k: &str| a.json.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let (account, arn) = (field("AccountId"), field("Arn"));
                if account.is_empty() || arn.is_empty() {
                    bail!("GetCallerIdentity: the response has no AccountId or Arn");
                }
                return Ok(format!("{account} {arn}"));
            }
            Ok(a) if a.status == 429 || a.status >= 500 => a.retry_after_ms,
            Ok(a) => bail!(
                "GetCallerIdentity refused: {}: {}",
                a.json
                    .get("Code")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default(),
                a.json
                    .get("Message")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
            ),
            Err(_) => None,
        };
        if attempt >= 5 {
            return answer.and_then(|a| {
                bail!(
                    "GetCallerIdentity: STS still answered HTTP {} after {attempt} attempts",
                    a.status
                )
            });
        }
        let backoff = 200u64 << (attempt - 1);
        let wait = retry_after.unwrap_or(0).max(backoff).min(10_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}

/// Calls STS AssumeRole with `base`, signed by the signer plugin.
pub async fn assume_role(
    signer: &dyn StsHost,
    endpoints: &Endpoints,
    base: &Credential,
    spec: &AssumeRole,
) -> Result<(Credential, OffsetDateTime)> {
    let arn = &spec.role_arn;
    let mut query = vec![
        ("RoleArn".to_string(), arn.clone()),
        ("RoleSessionName".to_string(), spec.session_name.clone()),
        (
            "DurationSeconds".to_string(),
            spec.duration_seconds.to_string(),
        ),
    ];
    if let Some(id) = &spec.external_id {
        query.push(("ExternalId".into(), id.clone()));
    }
    if let Some(policy) = &spec.policy {
        query.push(("Policy".into(), policy.clone()));
    }
    let HostAnswer { status, json, .. } = host_call(
        signer,
        endpoints,
        base,
        "sts",
        "AssumeRole",
        query,
        &format!("AssumeRole {arn}"),
    )
    .await?;
    let field = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if !(200..300).contains(&status) {
        let code = field("Code");
        let hint = match (code.as_str(), &spec.external_id) {
            ("NoPermission", None) => {
                " (ExternalId required? Is this identity trusted by the role?)"
            }
            ("NoPermission", Some(_)) => {
                " (is the ExternalId right? Is this identity trusted by the role?)"
            }
            _ => "",
        };
        bail!(
            "AssumeRole {arn} refused: {code}{hint}: {} (RequestId {})",
            field("Message"),
            field("RequestId")
        );
    }
    let c = json
        .get("Credentials")
        .ok_or_else(|| anyhow!("AssumeRole {arn}: the response has no Credentials"))?;
    let get = |k: &str| {
        c.get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| anyhow!("AssumeRole {arn}: the response has no Credentials.{k}"))
    };
    let expiration = get("Expiration")?;
    let expires = OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            anyhow!("AssumeRole {arn}: Credentials.Expiration {expiration:?} is not a UTC time")
        })?;
    let credential = Credential::new(
        get("AccessKeyId")?,
        get("AccessKeySecret")?,
        Some(get("SecurityToken")?.to_string()),
    );
    Ok((credential, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_external_id() {
        let mut spec = AssumeRole::new("acs:ram::1:role/x");
        spec.external_id = Some("abc-external-7".into());
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("abc-external-7") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn refreshes_before_expiry() {
        let now = OffsetDateTime::now_utc();
        let s = time::Duration::seconds;
        assert!(!needs_refresh(now + s(50 * 60), s(3600), now));
        assert!(needs_refresh(now + s(10 * 60), s(3600), now));
        assert!(needs_refresh(now + s(50), s(900), now));
        assert!(!needs_refresh(now + s(500), s(900), now));
        // A three-second session (the local API can issue them) is renewed halfway.
        assert!(!needs_refresh(now + s(2), s(3), now));
        assert!(needs_refresh(now + s(1), s(3), now));
    }
}
