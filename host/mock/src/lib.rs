//! The local Alibaba Cloud API: a real HTTP server that serves RAM, IMS and STS from one
//! base URL, dispatched by `x-acs-version` and `x-acs-action`. It verifies ACS3 signatures
//! the way the real gateway does, enforces paging limits, and can inject faults for tests.
//!
//! It owns the tenant (a JSON file, the bundled sample or a generated one) and the API's
//! behaviour. It is what the demo and the tests talk to, never what a sync of a real account
//! uses: only the `mock`, `demo` and `run-plugin` commands and the tests depend on it, and it
//! depends on nothing of the host but the credentials' secret type.

#![deny(missing_docs)]

mod api;
pub mod directory;
mod failure;
mod keys;
mod report;
mod sts;
mod synthetic;
pub mod tenant;
mod verify;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

pub use directory::Directory;
pub use failure::ApiFailure;
pub use keys::{Identity, MockKey};
pub use tenant::Tenant;

/// The documented demo AccessKey the local API accepts when no key is given.
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tRamsyncDemoKeyId";
/// The secret of the demo AccessKey. It only opens the local API.
pub const DEMO_ACCESS_KEY_SECRET: &str = "RamsyncDemoSecretForTheLocalApiOnly";

const MAX_BODY: usize = 64 * 1024;

/// A fault to inject into the answers to one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A 200 answer whose body is cut off mid-JSON.
    Malformed,
    /// A 200 answer missing its id and name fields.
    MissingField,
    /// A 200 answer whose id and name fields are numbers.
    WrongType,
    /// `Throttling.User` with `x-acs-retry-after`.
    Throttle,
    /// HTTP 503 `ServiceUnavailable`.
    ServerError,
    /// HTTP 403 `NoPermission` with an AccessDeniedDetail.
    Deny,
    /// The real answer cut off at half its length, possibly inside a UTF-8 character.
    Truncated,
    /// A 200 answer of bytes that are neither JSON nor UTF-8.
    Garbled,
    /// The real answer padded past 16 MiB, the most a plugin may read.
    Oversized,
}

/// A fault injected into the answers to one action (or all of them), some or all of the time.
#[derive(Debug)]
pub struct Fault {
    /// The action whose answers are spoiled; `*` for every action.
    pub action: String,
    /// How the answers are spoiled.
    pub kind: FaultKind,
    /// How many answers to spoil; None for all of them.
    remaining: Option<AtomicU64>,
    /// Spoil only every n-th answer.
    every: Option<u64>,
    seen: AtomicU64,
}

impl Fault {
    /// Spoils the answers to `action` (`*` for all actions): the first `times` of them, or
    /// every one when `times` is None.
    pub fn new(action: &str, kind: FaultKind, times: Option<u64>) -> Self {
        Fault {
            action: action.into(),
            kind,
            remaining: times.map(AtomicU64::new),
            every: None,
            seen: AtomicU64::new(0),
        }
    }

    /// Spoils every `n`-th answer to `action` (`*` for all actions).
    pub fn every(action: &str, kind: FaultKind, n: u64) -> Self {
        let mut f = Self::new(action, kind, None);
        f.every = Some(n.max(1));
        f
    }

    /// Parses `ACTION=KIND[:TIMES]` or `ACTION=KIND:every-N`, for example `ListRoles=deny`,
    /// `ListUsers=throttle:2` or `*=throttle:every-3`.
    pub fn parse(spec: &str) -> Result<Self> {
        let Some((action, rest)) = spec.split_once('=') else {
            bail!(
                "--fault takes ACTION=KIND[:TIMES] or ACTION=KIND:every-N, for example ListUsers=throttle:2; got {spec:?}"
            );
        };
        let mut every = None;
        let (kind, times) = match rest.split_once(':') {
            Some((k, n)) if n.starts_with("every-") => {
                every = Some(
                    n["every-".len()..]
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .with_context(|| {
                            format!("--fault {spec:?}: every-N takes a positive count")
                        })?,
                );
                (k, None)
            }
            Some((k, n)) => (
                k,
                Some(
                    n.parse::<u64>()
                        .with_context(|| format!("--fault {spec:?}: TIMES must be a count"))?,
                ),
            ),
            None => (rest, None),
        };
        let kind = match kind {
            "malformed" => FaultKind::Malformed,
            "missing-field" => FaultKind::MissingField,
            "wrong-type" => FaultKind::WrongType,
            "throttle" => FaultKind::Throttle,
            "server-error" => FaultKind::ServerError,
            "deny" => FaultKind::Deny,
            "truncated" => FaultKind::Truncated,
            "garbled" => FaultKind::Garbled,
            "oversized" => FaultKind::Oversized,
            other => bail!(
                "--fault {spec:?}: unknown kind {other:?}; expected malformed, missing-field, wrong-type, throttle, server-error, deny, truncated, garbled or oversized"
            ),
        };
        let mut fault = Fault::new(action, kind, times);
        fault.every = every;
        Ok(fault)
    }

    fn fires(&self, action: &str) -> bool {
        if self.action != "*" && self.action != action {
            return false;
        }
        if let Some(n) = self.every {
            return (self.seen.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n);
        }
        match &self.remaining {
            None => true,
            Some(n) => n
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok(),
        }
    }
}

/// How to run the local API.
pub struct MockOptions {
    /// The tenant to serve; provisioning calls change it while the server runs.
    pub tenant: Tenant,
    /// The keys the local API accepts, by AccessKey id. AssumeRole adds the STS keys it issues.
    pub keys: HashMap<String, MockKey>,
    /// Faults to inject; on each call the first one that fires applies.
    pub faults: Vec<Fault>,
    /// Added to every answer, to model a distant endpoint.
    pub latency: std::time::Duration,
    /// Caps the lifetime of the STS credentials AssumeRole issues, whatever was asked, so
    /// tests can watch them expire during a sync.
    pub sts_lifetime: Option<std::time::Duration>,
    /// How long the credential report takes to generate, as the real one takes a while.
    pub report_generation: std::time::Duration,
    /// The `x-acs-retry-after` a `throttle` fault answers with.
    pub throttle_retry_after: std::time::Duration,
    /// Keep when each call arrived (see [`MockServer::call_log`]).
    pub log_calls: bool,
    /// A Resource Directory whose management account is `tenant`, with the tenants of its
    /// other member accounts, which the management account reaches by AssumeRole.
    pub directory: Option<(Directory, Vec<Tenant>)>,
}

/// What the credential report takes to generate when nothing else is asked.
pub const REPORT_GENERATION: std::time::Duration = std::time::Duration::from_secs(2);

impl MockOptions {
    /// The sample tenant with the demo key.
    pub fn sample() -> Result<Self> {
        Ok(Self::with_tenant(Tenant::sample()?))
    }

    /// A tenant with the demo key, which belongs to the user `ramsync-reader`.
    pub fn with_tenant(tenant: Tenant) -> Self {
        let keys = HashMap::from([(
            DEMO_ACCESS_KEY_ID.to_string(),
            MockKey::user(DEMO_ACCESS_KEY_SECRET, "ramsync-reader"),
        )]);
        MockOptions {
            tenant,
            keys,
            faults: Vec::new(),
            latency: std::time::Duration::ZERO,
            sts_lifetime: None,
            report_generation: REPORT_GENERATION,
            throttle_retry_after: std::time::Duration::from_millis(50),
            log_calls: false,
            directory: None,
        }
    }

    /// The sample tenant as the management account of the sample Resource Directory.
    pub fn sample_directory() -> Result<Self> {
        let mut options = Self::sample()?;
        options.directory = Some(Directory::sample(&options.tenant)?);
        Ok(options)
    }
}

struct MockState {
    tenant: std::sync::RwLock<Tenant>,
    directory: Option<Directory>,
    /// The tenants of the directory's other member accounts, by account id.
    members: HashMap<String, std::sync::RwLock<Tenant>>,
    keys: std::sync::RwLock<HashMap<String, MockKey>>,
    faults: Vec<Fault>,
    latency: std::time::Duration,
    sts_lifetime: Option<std::time::Duration>,
    reports: report::Reports,
    throttle_retry_after: std::time::Duration,
    call_log: Option<Mutex<Vec<(std::time::Instant, String)>>>,
    nonces: verify::NonceCache,
    calls: Mutex<BTreeMap<String, u64>>,
    connections: AtomicU64,
}

/// A running local API.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Binds `addr` (use port 0 for any free port) and serves until shut down or dropped.
    pub async fn start(addr: &str, options: MockOptions) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let (directory, members) = match options.directory {
            None => (None, HashMap::new()),
            Some((d, tenants)) => (
                Some(d),
                tenants
                    .into_iter()
                    .map(|t| (t.account_id.clone(), std::sync::RwLock::new(t)))
                    .collect(),
            ),
        };
        let state = Arc::new(MockState {
            tenant: std::sync::RwLock::new(options.tenant),
            directory,
            members,
            keys: std::sync::RwLock::new(options.keys),
            faults: options.faults,
            latency: options.latency,
            sts_lifetime: options.sts_lifetime,
            reports: report::Reports::new(options.report_generation),
            throttle_retry_after: options.throttle_retry_after,
            call_log: options.log_calls.then(Default::default),
            nonces: Default::default(),
            calls: Default::default(),
            connections: AtomicU64::new(0),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                serving.connections.fetch_add(1, Ordering::Relaxed);
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(MockServer {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    /// The base URL, `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls served per `product:Action`, counting only requests whose signature was valid.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state.calls.lock().unwrap().clone()
    }

    /// When each call with a valid signature arrived, as `product:Action`, in arrival order;
    /// empty unless `log_calls` was set.
    pub fn call_log(&self) -> Vec<(std::time::Instant, String)> {
        self.state
            .call_log
            .as_ref()
            .map(|log| log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// TCP connections accepted since the start.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Calls served in all, counting only requests whose signature was valid.
    pub fn total_calls(&self) -> u64 {
        self.state.calls.lock().unwrap().values().sum()
    }

    /// The tenant as it is now; provisioning calls change it.
    pub fn tenant(&self) -> std::sync::RwLockReadGuard<'_, Tenant> {
        self.state.tenant.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops accepting connections and waits until the server has stopped listening.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn product_of(version: &str) -> &'static str {
    match version {
        api::RAM => "ram",
        api::IMS => "ims",
        api::STS => "sts",
        directory::RESOURCE_MANAGER => "resourcemanager",
        _ => "unknown",
    }
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl MockState {
    /// The tenant an account's keys act in: a member account's own, else the main one
    /// (also for keys of accounts the local API only models as outsiders).
    fn tenant_of(&self, account: Option<&str>) -> &std::sync::RwLock<Tenant> {
        account
            .and_then(|a| self.members.get(a))
            .unwrap_or(&self.tenant)
    }
}

async fn serve(state: &MockState, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let id = request_id();
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match answer(state, req, &id).await {
        Ok(body) => respond(200, body, &id, None),
        Err(f) => {
            let mut body = json!({
                "RequestId": id,
                "HostId": host,
                "Code": f.code,
                "Message": f.message,
                "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}", f.code),
            });
            if let Some(detail) = &f.access_denied {
                body["AccessDeniedDetail"] = detail.clone();
            }
            respond(f.status, body.to_string().into(), &id, f.retry_after_ms)
        }
    }
}

fn respond(
    status: u16,
    body: Bytes,
    id: &str,
    retry_after_ms: Option<u64>,
) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=utf-8")
        .header("x-acs-request-id", id);
    if let Some(ms) = retry_after_ms {
        response = response.header("x-acs-retry-after", ms.to_string());
    }
    response
        .body(Full::new(body))
        .expect("static response parts are valid")
}

async fn answer(
    state: &MockState,
    req: Request<hyper::body::Incoming>,
    id: &str,
) -> Result<Bytes, ApiFailure> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            ApiFailure::new(
                413,
                "InvalidParameter.Body",
                "The request body is too large or was cut off.",
            )
        })?
        .to_bytes();
    let mut headers = Vec::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().map_err(|_| {
            ApiFailure::new(
                400,
                "IncompleteSignature",
                &format!("The header {name} is not valid text."),
            )
        })?;
        headers.push((name.as_str().to_string(), value.to_string()));
    }
    let incoming = verify::Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or_default(),
        headers: &headers,
        body: &body,
    };
    if incoming.path != "/" {
        return Err(ApiFailure::new(
            404,
            "InvalidAction.NotFound",
            "RPC APIs are served at the path /.",
        ));
    }
    let key = {
        let keys = state.keys.read().unwrap_or_else(|e| e.into_inner());
        verify::verify(&incoming, &keys, &state.nonces, OffsetDateTime::now_utc())?
            .1
            .clone()
    };
    let key = &key;
    let version = incoming
        .header("x-acs-version")
        .unwrap_or_default()
        .to_string();
    let action = incoming
        .header("x-acs-action")
        .unwrap_or_default()
        .to_string();
    let call = format!("{}:{action}", product_of(&version));
    if let Some(log) = &state.call_log {
        log.lock()
            .unwrap()
            .push((std::time::Instant::now(), call.clone()));
    }
    *state.calls.lock().unwrap().entry(call).or_default() += 1;
    tracing::debug!(%action, %version, "local API call");
    let home = state.tenant_of(key.account_id.as_deref());
    let tenant = home.read().unwrap_or_else(|e| e.into_inner());
    let fault = state
        .faults
        .iter()
        .find(|f| f.fires(&action))
        .map(|f| f.kind);
    match fault {
        Some(FaultKind::Throttle) => {
            let mut f = ApiFailure::new(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
            f.retry_after_ms = Some(state.throttle_retry_after.as_millis() as u64);
            return Err(f);
        }
        Some(FaultKind::ServerError) => {
            return Err(ApiFailure::new(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            ));
        }
        Some(FaultKind::Deny) => {
            let mut f = ApiFailure::new(
                403,
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM.",
            );
            f.access_denied = Some(json!({
                "AuthAction": format!("ram:{action}"),
                "AuthPrincipalType": key.identity_type(),
                "AuthPrincipalOwnerId": tenant.account_id,
                "AuthPrincipalDisplayName": key.arn(&tenant),
                "NoPermissionType": "ImplicitDeny",
                "PolicyType": "AccountLevelIdentityBasedPolicy",
                "EncodedDiagnosticMessage": "",
            }));
            return Err(f);
        }
        Some(FaultKind::Malformed) => {
            return Ok(
                format!("{{\"RequestId\":\"{id}\",\"Users\":{{\"User\":[{{\"UserId\":").into(),
            );
        }
        Some(FaultKind::Garbled) => {
            return Ok(Bytes::from_static(
                b"\xff\xfe\x00garbled \xc3\x28 not json \x9f",
            ));
        }
        _ => {}
    }
    let params = api::Params::new(verify::decode_query(incoming.raw_query));
    let mut body = if version == api::STS && action == "AssumeRole" {
        let target_account = params
            .get("RoleArn")
            .and_then(|arn| arn.strip_prefix("acs:ram::"))
            .and_then(|rest| rest.split(':').next())
            .map(str::to_string);
        let target = state.tenant_of(target_account.as_deref());
        let target = if std::ptr::eq(target, home) {
            None
        } else {
            Some(target.read().unwrap_or_else(|e| e.into_inner()))
        };
        let (body, id, issued) = sts::assume_role(
            target.as_deref().unwrap_or(&tenant),
            &tenant,
            key,
            &params,
            OffsetDateTime::now_utc(),
            state.sts_lifetime,
        )?;
        state
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, issued);
        body
    } else if version == directory::RESOURCE_MANAGER {
        let management = std::ptr::eq(home, &state.tenant)
            && key
                .account_id
                .as_deref()
                .is_none_or(|a| a == tenant.account_id);
        match &state.directory {
            None => {
                return Err(ApiFailure::new(
                    404,
                    "EntityNotExists.ResourceDirectory",
                    "The resource directory does not exist.",
                ));
            }
            Some(_) if !management => {
                return Err(ApiFailure::new(
                    403,
                    "NoPermission",
                    "Only the management account of the resource directory may do this.",
                ));
            }
            Some(d) => d.handle(&action, &params)?,
        }
    } else if api::is_mutation(&version, &action) {
        drop(tenant);
        let mut tenant = home.write().unwrap_or_else(|e| e.into_inner());
        api::mutate(&mut tenant, &action, &params)?
    } else if let Some(answer) = state.reports.handle(&tenant, &version, &action, &params) {
        answer?
    } else {
        api::handle(&tenant, key, &version, &action, &params)?
    };
    body["RequestId"] = json!(id);
    match fault {
        Some(FaultKind::MissingField) => spoil(&mut body, &mut |v| *v = Value::Null, true),
        Some(FaultKind::WrongType) => spoil(&mut body, &mut |v| *v = json!(12345), false),
        Some(FaultKind::Oversized) => body["Padding"] = json!("x".repeat(20 << 20)),
        _ => {}
    }
    let text = body.to_string();
    if fault == Some(FaultKind::Truncated) {
        let bytes = text.into_bytes();
        return Ok(Bytes::copy_from_slice(&bytes[..bytes.len() / 2]));
    }
    Ok(text.into())
}

const SPOILED: &[&str] = &[
    "UserId",
    "GroupId",
    "RoleId",
    "PolicyName",
    "AccountId",
    "AccountAlias",
    "UserPrincipalName",
    "GroupName",
    "RoleName",
    "AccessKeyId",
    "SerialNumber",
];

/// Removes (or rewrites) every id and name field in a response.
fn spoil(v: &mut Value, rewrite: &mut dyn FnMut(&mut Value), remove: bool) {
    match v {
        Value::Object(map) => {
            if remove {
                map.retain(|k, _| !SPOILED.contains(&k.as_str()));
            }
            for (k, child) in map.iter_mut() {
                if SPOILED.contains(&k.as_str()) {
                    rewrite(child);
                } else {
                    spoil(child, rewrite, remove);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| spoil(c, rewrite, remove)),
        _ => {}
    }
}
