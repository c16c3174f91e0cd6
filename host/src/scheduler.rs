//! The scheduler: walks resource types, then each type's resources page by page, then
//! the entitlements and grants of each resource with bounded concurrency. Throttled and
//! transient failures are retried with backoff and jitter; each retry is signed afresh.

use crate::engine::{CallContext, CallError, PluginError, Plugins, Resource, Syncer};
use crate::store::Store;
use anyhow::Result;
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The account name the run is recorded under.
    pub account: String,
    /// Plugin calls in flight at once.
    pub concurrency: usize,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            account: "default".into(),
            concurrency: 8,
            max_attempts: 5,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What happened to one resource type.
#[derive(Debug, Clone)]
pub struct TypeReport {
    pub resource_type: String,
    pub plugin: String,
    pub resources: usize,
    pub grants: usize,
    pub error: Option<String>,
}

/// The outcome of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub sync_id: i64,
    pub types: Vec<TypeReport>,
    pub api_calls: u64,
    pub elapsed: Duration,
    /// Why the sync failed, one line per failed type; None when complete.
    pub error: Option<String>,
}

impl SyncReport {
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }
}

/// A failure that makes every other call fail too, so the sync stops at once.
fn is_fatal(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Plugin(PluginError::Unauthorized(_)) | CallError::Credentials(_)
    )
}

/// Runs one full sync into `store` and records it as complete or failed.
pub async fn sync(
    plugins: &Plugins,
    ctx: &CallContext,
    store: &mut Store,
    options: &SyncOptions,
) -> Result<SyncReport> {
    let started = Instant::now();
    let sync_id = store.begin_sync(&options.account)?;
    let progress = crate::progress::Progress::new();
    let mut types = Vec::new();
    let mut fatal = false;
    for syncer in &plugins.syncers {
        let info = &syncer.info;
        let mut report = TypeReport {
            resource_type: info.id.clone(),
            plugin: syncer.name.clone(),
            resources: 0,
            grants: 0,
            error: None,
        };
        if fatal {
            report.error = Some("skipped: the credential was rejected".into());
        } else {
            progress.set_type(&info.id);
            if let Err((e, what)) =
                sync_type(syncer, ctx, store, sync_id, options, &mut report, &progress).await
            {
                fatal = is_fatal(&e);
                report.error = Some(describe(&syncer.name, &info.id, &what, &e, ctx, options));
            }
        }
        store.put_resource_type(
            sync_id,
            &info.id,
            &info.display_name,
            &syncer.name,
            report.error.as_deref(),
        )?;
        types.push(report);
    }
    progress.finish();
    let api_calls = ctx.http_calls.load(Ordering::Relaxed);
    let failures: Vec<String> = types
        .iter()
        .filter_map(|t| {
            t.error
                .as_ref()
                .map(|e| format!("{}: {e}", t.resource_type))
        })
        .collect();
    let error = (!failures.is_empty()).then(|| failures.join("\n"));
    store.finish_sync(sync_id, error.as_deref(), api_calls)?;
    Ok(SyncReport {
        sync_id,
        types,
        api_calls,
        elapsed: started.elapsed(),
        error,
    })
}

type Failure = (CallError, String);

async fn sync_type(
    syncer: &Syncer,
    ctx: &CallContext,
    store: &mut Store,
    sync_id: i64,
    options: &SyncOptions,
    report: &mut TypeReport,
    progress: &crate::progress::Progress,
) -> Result<(), Failure> {
    let internal = |e: anyhow::Error| {
        (
            CallError::Trap(format!("store error: {e:#}")),
            "storing results".to_string(),
        )
    };
    let parents: Vec<Option<crate::engine::ResourceRef>> = match &syncer.info.parent_type {
        None => vec![None],
        Some(parent_type) => store
            .resources_of_type(sync_id, parent_type)
            .map_err(internal)?
            .into_iter()
            .map(|r| {
                Some(crate::engine::ResourceRef {
                    resource_type: r.resource_type,
                    id: r.id,
                })
            })
            .collect(),
    };
    let mut resources: Vec<Resource> = Vec::new();
    for parent in &parents {
        let mut token: Option<String> = None;
        loop {
            let what = format!("listing {} resources", syncer.info.id);
            let page = retry(options, &what, || {
                syncer.list_resources(ctx, parent.as_ref(), token.as_deref())
            })
            .await
            .map_err(|e| (e, what.clone()))?;
            for r in &page.items {
                if r.ref_.resource_type != syncer.info.id {
                    let e = CallError::Trap(format!(
                        "returned a resource of type {:?} while listing {:?}",
                        r.ref_.resource_type, syncer.info.id
                    ));
                    return Err((e, what));
                }
            }
            store
                .put_resources(sync_id, &page.items)
                .map_err(internal)?;
            report.resources += page.items.len();
            progress.add_resources(page.items.len(), ctx.http_calls.load(Ordering::Relaxed));
            if !syncer.info.skip_entitlements_and_grants {
                resources.extend(page.items);
            }
            match page.next_page_token {
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err((
                        CallError::Trap(format!("returned the same page token {next:?} twice")),
                        what,
                    ));
                }
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    let mut results = futures::stream::iter(resources.iter())
        .map(|resource| access_of(syncer, ctx, options, resource))
        .buffer_unordered(options.concurrency.max(1));
    while let Some(result) = results.next().await {
        let (resource, entitlements, grants, attributes) = result?;
        store
            .put_access(sync_id, &entitlements, &grants)
            .map_err(internal)?;
        if !attributes.is_empty() {
            store
                .merge_attributes(sync_id, &resource.ref_, &attributes)
                .map_err(internal)?;
        }
        report.grants += grants.len();
        progress.add_grants(grants.len(), ctx.http_calls.load(Ordering::Relaxed));
    }
    Ok(())
}

/// All pages of one resource's entitlements and grants.
/// One resource's entitlements, grants, and attributes learned while listing grants.
type Access<'r> = (
    &'r Resource,
    Vec<crate::engine::Entitlement>,
    Vec<crate::engine::Grant>,
    Vec<(String, String)>,
);

async fn access_of<'r>(
    syncer: &Syncer,
    ctx: &CallContext,
    options: &SyncOptions,
    resource: &'r Resource,
) -> Result<Access<'r>, Failure> {
    let mut entitlements = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let what = format!(
            "listing the entitlements of {} {}",
            resource.ref_.resource_type, resource.name
        );
        let page = retry(options, &what, || {
            syncer.entitlements(ctx, resource, token.as_deref())
        })
        .await
        .map_err(|e| (e, what))?;
        entitlements.extend(page.items);
        match page.next_page_token {
            Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
            _ => break,
        }
    }
    let mut grants = Vec::new();
    let mut attributes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let what = format!(
            "listing the grants of {} {}",
            resource.ref_.resource_type, resource.name
        );
        let page = retry(options, &what, || {
            syncer.grants(ctx, resource, token.as_deref())
        })
        .await
        .map_err(|e| (e, what.clone()))?;
        grants.extend(page.items);
        attributes.extend(page.resource_attributes);
        match page.next_page_token {
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err((
                    CallError::Trap(format!("returned the same page token {next:?} twice")),
                    what,
                ));
            }
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok((resource, entitlements, grants, attributes))
}

/// The wait before attempt `attempt + 1`, or None when the error is not worth retrying.
pub fn backoff(error: &CallError, attempt: u32, max: Duration) -> Option<Duration> {
    let base = match error {
        CallError::Plugin(PluginError::Throttled(t)) => {
            Duration::from_millis(t.retry_after_ms.max(100))
        }
        CallError::Plugin(PluginError::Transient(_)) | CallError::Timeout(_) => {
            Duration::from_millis(200u64.saturating_mul(1 << attempt.min(10)))
        }
        _ => return None,
    };
    // Up to 25% jitter so that parallel calls do not retry in lockstep.
    let jitter = rand::random_range(0.0..0.25);
    Some(base.mul_f64(1.0 + jitter).min(max))
}

async fn retry<T, F, Fut>(options: &SyncOptions, what: &str, mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match backoff(&e, attempt, options.max_backoff) {
                Some(wait) if attempt < options.max_attempts => {
                    tracing::info!(what, attempt, wait_ms = wait.as_millis() as u64, error = %short(&e), "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return Err(e),
            },
        }
    }
}

fn short(e: &CallError) -> String {
    match e {
        CallError::Plugin(p) => plugin_error_line(p),
        CallError::Denied { host } => format!("denied host {host}"),
        CallError::Trap(m) => m.clone(),
        CallError::Timeout(d) => format!("timed out after {d:?}"),
        CallError::Credentials(m) => m.clone(),
    }
}

fn api_line(e: &crate::engine::ApiError) -> String {
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

/// What failed and what to do about it, in a sentence or two.
pub fn describe(
    plugin: &str,
    resource_type: &str,
    what: &str,
    e: &CallError,
    ctx: &CallContext,
    options: &SyncOptions,
) -> String {
    use crate::credentials::{ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN};
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
            "still throttled after {} attempts: {}. Lower --concurrency or sync later.",
            options.max_attempts,
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
        CallError::Denied { host } => format!(
            "host not allowed: plugin {plugin} tried to reach {host}, which is not an allowed endpoint (allowed: {}). If the API really lives there, allow it with --endpoint PRODUCT=URL.",
            ctx.endpoints.describe()
        ),
        CallError::Trap(m) => format!(
            "plugin {plugin} {m} while {what}; the {resource_type} resources of this sync are incomplete"
        ),
        CallError::Timeout(d) => format!(
            "plugin {plugin} did not finish {what} within {d:?}, after {} attempts",
            options.max_attempts
        ),
        CallError::Credentials(m) => format!("credentials: {m}"),
    }
}
