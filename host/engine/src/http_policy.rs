//! Outbound HTTP policy for plugins, enforced in the wasi-http `send_request` hook:
//! only the configured product endpoints are reachable, only requests exactly as the host
//! signed them are sent ([`crate::action_policy`]), each account's request rate per product
//! is limited, timeouts and response sizes are capped, and the STS security token is added
//! here so that syncers never hold it.

use crate::action_policy::Ledger;
use anyhow::Result;
use ramsync_credentials::Secret;
pub use ramsync_model::{Endpoints, PRODUCTS, product_of_version};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

/// How long a plugin's request may take to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may take to start.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a response body may pause between bytes.
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body a plugin may read. A page of 1,000 users is about 0.5 MiB.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// The default request rate per account and product when none is configured.
pub const DEFAULT_QPS: u32 = 50;
/// The longest an `x-acs-retry-after` may hold a product's requests.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// One account's request rates, one limiter per product; a request waits for its turn.
/// When the API answers with `x-acs-retry-after`, every request of that account to that
/// product waits that long, not only the one that was throttled: Alibaba Cloud limits the
/// rate per account and API, so the other calls in flight would only be throttled too, each
/// spending one of its attempts.
pub struct RateLimits {
    qps: Option<u32>,
    by_product: BTreeMap<&'static str, governor::DefaultDirectRateLimiter>,
    paused_until: std::sync::Mutex<BTreeMap<String, tokio::time::Instant>>,
}

impl RateLimits {
    /// `qps` requests per second for each product (bursts up to `qps`), or no limit.
    pub fn new(qps: Option<u32>) -> Self {
        let by_product = match qps.and_then(std::num::NonZeroU32::new) {
            None => BTreeMap::new(),
            Some(rate) => PRODUCTS
                .iter()
                .map(|(p, _)| {
                    (
                        *p,
                        governor::RateLimiter::direct(governor::Quota::per_second(rate)),
                    )
                })
                .collect(),
        };
        RateLimits {
            qps,
            by_product,
            paused_until: Default::default(),
        }
    }

    /// No rate limit.
    pub fn unlimited() -> Self {
        Self::new(None)
    }

    /// Requests per second per product, None when unlimited.
    pub fn qps(&self) -> Option<u32> {
        self.qps
    }

    /// Waits until `product` may send another request: past any pause the API asked for,
    /// then for a turn under the rate.
    pub async fn wait(&self, product: &str) {
        loop {
            let until = self.lock_pauses().get(product).copied();
            match until {
                Some(until) if until > tokio::time::Instant::now() => {
                    tokio::time::sleep_until(until).await;
                }
                _ => break,
            }
        }
        if let Some(limiter) = self.by_product.get(product) {
            limiter.until_ready().await;
        }
    }

    /// Holds every request to `product` for `retry_after` from now (a longer pause already
    /// asked for stands). At most a minute, whatever a response says.
    pub fn pause(&self, product: &str, retry_after: Duration) {
        let until = tokio::time::Instant::now() + retry_after.min(MAX_PAUSE);
        let mut pauses = self.lock_pauses();
        let entry = pauses.entry(product.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn lock_pauses(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, tokio::time::Instant>> {
        self.paused_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address is not a configured endpoint.
    Host(String),
    /// The plugin's manifest does not grant the product.
    Product {
        /// The product the request is for.
        product: String,
        /// The address it was sent to.
        host: String,
    },
    /// The host would not sign this action for this call.
    Action {
        /// The `product:Action` asked for.
        action: String,
        /// Why it may not be signed.
        why: String,
    },
    /// The request was not signed by the host as it is being sent.
    Unsigned(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Host(host) => write!(f, "host {host} is not an allowed endpoint"),
            Refusal::Product { product, host } => {
                write!(
                    f,
                    "product {product} at {host} is not granted to the plugin"
                )
            }
            Refusal::Action { action, why } => write!(f, "action {action}: {why}"),
            Refusal::Unsigned(why) => write!(f, "request not sent: {why}"),
        }
    }
}

/// What the policy saw during one plugin call, shared with the host after the call.
#[derive(Debug, Default)]
pub struct HttpActivity {
    /// Requests sent.
    pub calls: AtomicU64,
    /// `product:Action` of each request sent, in order; kept only when asked for.
    pub actions: Option<Mutex<Vec<String>>>,
    /// Requests the policy refused, and why.
    pub denied: Mutex<Vec<Refusal>>,
    /// Time requests spent waiting for the rate limit, finished waits only.
    rate_waited_nanos: AtomicU64,
    /// Requests waiting for the rate limit now.
    pacing: AtomicU64,
}

/// Counts one request as waiting for the rate limit until dropped, also when the call is
/// abandoned mid-wait.
struct Pacing<'a>(&'a HttpActivity, std::time::Instant);

impl Drop for Pacing<'_> {
    fn drop(&mut self) {
        let waited = self.1.elapsed().as_nanos() as u64;
        self.0
            .rate_waited_nanos
            .fetch_add(waited, Ordering::Relaxed);
        self.0.pacing.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HttpActivity {
    /// The activity of one call; with `record_actions` it keeps each request's `product:Action`.
    pub fn new(record_actions: bool) -> Self {
        HttpActivity {
            actions: record_actions.then(Default::default),
            ..Default::default()
        }
    }

    /// Waits for `product`'s turn under `rates`, counting the wait as pacing, not the plugin's time.
    async fn paced(&self, rates: &RateLimits, product: &str) {
        self.pacing.fetch_add(1, Ordering::Relaxed);
        let _pacing = Pacing(self, std::time::Instant::now());
        rates.wait(product).await;
    }

    /// Records a refusal; the call then fails with it, whatever the plugin does next.
    pub fn refuse(&self, refusal: Refusal) {
        tracing::warn!(%refusal, "plugin request refused");
        self.denied.lock().unwrap().push(refusal);
    }

    /// Time this call's requests spent waiting for the rate limit so far.
    pub fn rate_waited(&self) -> Duration {
        Duration::from_nanos(self.rate_waited_nanos.load(Ordering::Relaxed))
    }

    /// Whether a request of this call is waiting for the rate limit now.
    pub fn pacing_now(&self) -> bool {
        self.pacing.load(Ordering::Relaxed) > 0
    }
}

/// The `WasiHttpHooks` of one plugin store.
pub struct HttpPolicy {
    endpoints: Arc<Endpoints>,
    /// The products this plugin's manifest grants.
    granted: Arc<[String]>,
    rates: Arc<RateLimits>,
    security_token: Option<Secret>,
    activity: Arc<HttpActivity>,
    /// Only requests the host signed for this store are sent, with this key id (none when
    /// the call has no credential, so nothing is signed and nothing is sent).
    ledger: Arc<Ledger>,
    key_id: Option<String>,
}

impl HttpPolicy {
    /// The policy of one store: `granted` products at `endpoints`, paced by `rates`, sending
    /// only what `ledger` holds as signed with `key_id`.
    pub fn new(
        endpoints: Arc<Endpoints>,
        granted: Arc<[String]>,
        rates: Arc<RateLimits>,
        activity: Arc<HttpActivity>,
        ledger: Arc<Ledger>,
        credential: Option<&ramsync_credentials::Credential>,
    ) -> Self {
        HttpPolicy {
            endpoints,
            granted,
            rates,
            security_token: credential.and_then(|c| c.security_token().cloned()),
            activity,
            ledger,
            key_id: credential.map(|c| c.access_key_id.clone()),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Box<dyn Future<Output = SendResult> + Send> {
        self.activity.refuse(refusal);
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

/// One POST made by the host itself (STS), with the timeouts of plugin requests and the
/// answer's body capped at 1 MiB.
pub async fn host_post(
    url: String,
    headers: Vec<(String, String)>,
) -> Result<ramsync_credentials::sts::HttpAnswer> {
    use http_body_util::BodyExt;
    let mut builder = http::Request::post(url);
    for (name, value) in &headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let response = crate::connections::send(request, clamp(None))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = response.status().as_u16();
    let retry_after_ms = retry_after_ms(response.headers());
    let body = http_body_util::Limited::new(response.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the response failed: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(ramsync_credentials::sts::HttpAnswer {
        status,
        retry_after_ms,
        body,
    })
}

/// The API's `x-acs-retry-after`, in milliseconds.
fn retry_after_ms(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get("x-acs-retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The request with its body read, if the body is the one whose digest was signed (RPC
/// bodies are small; the cap keeps a plugin from streaming without end).
async fn with_signed_body(
    request: http::Request<HyperOutgoingBody>,
    content_sha256: &str,
) -> std::result::Result<http::Request<http_body_util::Full<bytes::Bytes>>, String> {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let max = crate::action_policy::MAX_REQUEST_BODY;
    let bytes = http_body_util::Limited::new(body, max)
        .collect()
        .await
        .map_err(|_| format!("the request body is over {max} bytes or unreadable"))?
        .to_bytes();
    if crate::manifest::sha256_hex(&bytes) != content_sha256 {
        return Err("the request's body is not the signed body".into());
    }
    Ok(http::Request::from_parts(
        parts,
        http_body_util::Full::new(bytes),
    ))
}

/// Clamps the guest's timeouts to the host's maximums.
pub fn clamp(options: Option<RequestOptions>) -> RequestOptions {
    let o = options.unwrap_or_default();
    let min = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
    RequestOptions {
        connect_timeout: min(o.connect_timeout, CONNECT_TIMEOUT),
        first_byte_timeout: min(o.first_byte_timeout, FIRST_BYTE_TIMEOUT),
        between_bytes_timeout: min(o.between_bytes_timeout, BETWEEN_BYTES_TIMEOUT),
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<HyperOutgoingBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<HyperOutgoingBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16();
        let shown = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let served = self.endpoints.products_at(&scheme, &host, port);
        if served.is_empty() {
            return self.refuse(Refusal::Host(shown));
        }
        // The product is the one the request's API version names, which must be served at
        // this address; without a version, any product served here that the plugin holds.
        let version = request
            .headers()
            .get("x-acs-version")
            .and_then(|v| v.to_str().ok())
            .map(|v| product_of_version(v).unwrap_or("unknown"));
        let product = match version {
            Some(p) => p,
            None => served
                .iter()
                .copied()
                .find(|p| self.granted.iter().any(|g| g == p))
                .unwrap_or(served[0]),
        };
        if !served.contains(&product) {
            return self.refuse(Refusal::Host(format!("{shown} (for product {product})")));
        }
        if !self.granted.iter().any(|g| g == product) {
            return self.refuse(Refusal::Product {
                product: product.to_string(),
                host: shown,
            });
        }
        let product = product.to_string();
        let signed = match self.ledger.take_matching(&request, self.key_id.as_deref()) {
            Ok(signed) => signed,
            Err(why) => return self.refuse(Refusal::Unsigned(why)),
        };
        if let Some(actions) = &self.activity.actions {
            let action = request
                .headers()
                .get("x-acs-action")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            actions.lock().unwrap().push(format!("{product}:{action}"));
        }
        if let Some(token) = &self.security_token {
            match http::HeaderValue::from_str(token.expose()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request.headers_mut().insert("x-acs-security-token", value);
                }
                Err(_) => {
                    return Box::new(async {
                        Err(HttpError::InternalError(Some(
                            "the security token is not a valid header value".into(),
                        )))
                    });
                }
            }
        }
        self.activity.calls.fetch_add(1, Ordering::Relaxed);
        let options = clamp(options);
        let rates = self.rates.clone();
        let activity = self.activity.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            let request = match with_signed_body(request, &signed.content_sha256).await {
                Ok(request) => request,
                Err(why) => {
                    activity.refuse(Refusal::Unsigned(why));
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            activity.paced(&rates, &product).await;
            // A kept-alive connection to the endpoint, or a new one (connections.rs).
            let response = crate::connections::send(request, options).await?;
            if let Some(ms) = retry_after_ms(response.headers()) {
                rates.pause(&product, Duration::from_millis(ms));
            }
            // A body past the cap ends in an error instead of filling the plugin's memory.
            let capped = |body| {
                http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                    .map_err(|e| match e.downcast::<HttpError>() {
                        Ok(inner) => *inner,
                        Err(_) => HttpError::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES as u64)),
                    })
                    .boxed_unsync()
            };
            // The connection is driven by a task of its own, so there is no I/O to hand back.
            let io = async { Ok(()) };
            Ok((
                response.map(capped),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_holds_every_request_to_its_product_only() {
        let rates = RateLimits::unlimited();
        rates.pause("ims", Duration::from_millis(800));
        // A shorter pause asked for later does not shorten it.
        rates.pause("ims", Duration::from_millis(100));
        let started = tokio::time::Instant::now();
        rates.wait("ram").await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        rates.wait("ims").await;
        assert_eq!(started.elapsed(), Duration::from_millis(800));
        rates.pause("ims", Duration::from_secs(3600));
        let resumed = tokio::time::Instant::now();
        rates.wait("ims").await;
        assert_eq!(resumed.elapsed(), MAX_PAUSE);
    }

    #[test]
    fn timeouts_are_clamped() {
        let o = clamp(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(600)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        }));
        assert_eq!(o.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(o.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(o.between_bytes_timeout, Some(BETWEEN_BYTES_TIMEOUT));
    }
}
