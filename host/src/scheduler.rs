//! The scheduler: walks resource types, then each type's resources page by page, then
//! the entitlements and grants of each resource with bounded concurrency. Throttled and
//! transient failures are retried with backoff and jitter; each retry is signed afresh.
//! Every stored page is a checkpoint: an interrupted run (kill -9, power loss, SIGTERM)
//! resumes after its last stored page and ends as it would have without the interruption.

use crate::engine::{CallContext, CallError, PluginError, Plugins, Resource, Syncer};
use crate::progress::Progress;
use crate::store::{ListProgress, RunContext, Store};
use anyhow::Result;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An unfinished run younger than this is resumed by a plain `sync`; `--resume` takes any.
pub const AUTO_RESUME_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// Pages one listing may take (a list, or one resource's entitlements or grants). RAM and
/// IMS list at most 1,000 items a page, so this is far past any real account.
pub const MAX_PAGES: usize = 50_000;
/// Items one page may hold.
pub const MAX_ITEMS_PER_PAGE: usize = 10_000;
/// The longest page token a plugin may return.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Holds one listing's paging to its bounds: a page token is never seen twice (a cycle of
/// any length, not just a repeat of the last one), pages and items per page are capped.
struct Pager {
    seen: std::collections::HashSet<String>,
    pages: usize,
    max_pages: usize,
}

impl Pager {
    fn new(options: &SyncOptions) -> Self {
        Pager {
            seen: Default::default(),
            pages: 0,
            max_pages: options.max_pages,
        }
    }

    /// Checks a page of `items` whose next token is `next`; the error says what is wrong.
    fn check(&mut self, items: usize, next: Option<&str>) -> Result<(), CallError> {
        self.pages += 1;
        let fault = if items > MAX_ITEMS_PER_PAGE {
            Some(format!(
                "returned {items} items in one page (at most {MAX_ITEMS_PER_PAGE} are accepted)"
            ))
        } else if self.pages >= self.max_pages && next.is_some() {
            Some(format!(
                "returned more than {} pages for one listing",
                self.max_pages
            ))
        } else {
            match next {
                Some(t) if t.len() > MAX_TOKEN_BYTES => Some(format!(
                    "returned a page token of {} bytes (at most {MAX_TOKEN_BYTES} are accepted)",
                    t.len()
                )),
                Some(t) if !self.seen.insert(t.to_string()) => Some(format!(
                    "returned the page token {t:?} a second time (a paging cycle)"
                )),
                _ => None,
            }
        };
        fault.map_or(Ok(()), |f| Err(CallError::Trap(f)))
    }
}

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
    /// Resume the account's unfinished run however old it is (`--resume`).
    pub resume: bool,
    /// Set to stop at the next page boundary, leaving the run resumable.
    pub stop: Arc<AtomicBool>,
    /// Pages one listing may take before the plugin is stopped.
    pub max_pages: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            account: "default".into(),
            concurrency: 8,
            max_attempts: 5,
            max_backoff: Duration::from_secs(30),
            resume: false,
            stop: Arc::default(),
            max_pages: MAX_PAGES,
        }
    }
}

impl SyncOptions {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

pub use ramsync_model::{TypeReport, api_line, plugin_error_line};

/// The outcome of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub account: String,
    pub sync_id: i64,
    pub types: Vec<TypeReport>,
    /// API calls made by this process (a resumed run's earlier calls are in the store).
    pub api_calls: u64,
    pub elapsed: Duration,
    /// Why the sync failed, one line per failed type; None when complete.
    pub error: Option<String>,
    /// The run continued an interrupted one.
    pub resumed: bool,
    /// The run stopped when asked to and can be resumed.
    pub interrupted: bool,
}

impl SyncReport {
    pub fn is_complete(&self) -> bool {
        self.error.is_none() && !self.interrupted
    }
}

/// A failure that makes every other call fail too, so the sync stops at once.
fn is_fatal(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Plugin(PluginError::Unauthorized(_)) | CallError::Credentials(_)
    )
}

/// Why a type's sync ended early.
enum Stop {
    /// The error and what was being done; boxed, as results carrying it are passed around.
    Failed(Box<(CallError, String)>),
    Interrupted,
}

impl From<(CallError, String)> for Stop {
    fn from((e, what): (CallError, String)) -> Self {
        Stop::Failed(Box::new((e, what)))
    }
}

/// What this sync runs against: its endpoints, and who its credentials are (None when STS
/// GetCallerIdentity could not say; the plugins then report what is wrong).
async fn run_context(ctx: &CallContext) -> RunContext {
    let caller = match &ctx.auth {
        None => None,
        Some(auth) => match auth
            .source
            .current(auth.signer.as_ref(), &ctx.endpoints)
            .await
        {
            Err(_) => None,
            Ok(credential) => {
                match crate::sts::caller_identity(auth.signer.as_ref(), &ctx.endpoints, &credential)
                    .await
                {
                    Ok(identity) => Some(identity),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot tell who the credentials are; an interrupted run will not be resumed");
                        None
                    }
                }
            }
        },
    };
    if caller.is_some() {
        ctx.http_calls.fetch_add(1, Ordering::Relaxed);
    }
    RunContext {
        endpoints: ctx.endpoints.describe(),
        caller,
    }
}

/// Why an interrupted run that ran in `stored` must not be continued in `now`, if it must not.
fn not_resumable(stored: Option<&RunContext>, now: &RunContext) -> Option<String> {
    let Some(stored) = stored else {
        return Some("it recorded no endpoints or caller identity".into());
    };
    if stored.endpoints != now.endpoints {
        return Some(format!(
            "it synced against {}, and this sync is against {}",
            stored.endpoints, now.endpoints
        ));
    }
    match (&stored.caller, &now.caller) {
        (Some(a), Some(b)) if a == b => None,
        (Some(a), Some(b)) => Some(format!(
            "it synced as {a}, and this sync's credentials are {b}"
        )),
        _ => Some("the caller identity of the run or of this sync is unknown".into()),
    }
}

/// The run to write into: the account's unfinished run when it may be resumed (same
/// endpoints, same caller identity), else a new one.
fn open_run(store: &mut Store, options: &SyncOptions, context: &RunContext) -> Result<(i64, bool)> {
    if let Some(run) = store.unfinished_run(&options.account)? {
        let age = time::OffsetDateTime::parse(
            &run.started_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| time::OffsetDateTime::now_utc() - t)
        .unwrap_or(time::Duration::MAX);
        let stored = store.run_context(run.id)?;
        if let Some(why) = not_resumable(stored.as_ref(), context) {
            tracing::warn!(account = %options.account, sync_run = run.id, "not resuming the interrupted sync run: {why}; starting a new one");
            store.abandon_run(
                run.id,
                &format!("interrupted, and not resumed: {why}; a new run replaced it"),
            )?;
        } else if options.resume || age < AUTO_RESUME_WITHIN {
            tracing::warn!(account = %options.account, sync_run = run.id, started_at = %run.started_at, "resuming an interrupted sync run");
            return Ok((run.id, true));
        } else {
            store.abandon_run(
                run.id,
                "interrupted, and not resumed within 24 hours; a new run replaced it",
            )?;
        }
    } else if options.resume {
        tracing::warn!(account = %options.account, "no interrupted sync run to resume; starting a new one");
    }
    let id = store.begin_sync(&options.account)?;
    store.put_run_context(id, context)?;
    Ok((id, false))
}

/// Runs one full sync into `store` (or resumes an interrupted one) and records it as
/// complete or failed; a stopped run is left resumable.
pub async fn sync(
    plugins: &Plugins,
    ctx: &CallContext,
    store: &mut Store,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<SyncReport> {
    let started = Instant::now();
    let context = run_context(ctx).await;
    let (sync_id, resumed) = open_run(store, options, &context)?;
    let outcome = sync_run(
        plugins, ctx, store, options, progress, sync_id, resumed, started,
    )
    .await;
    if let Err(e) = &outcome {
        // A store error stops the run: it ends failed, never left looking like it is running.
        let message = format!("stopped by a store error: {e:#}");
        let calls = ctx.http_calls.load(Ordering::Relaxed);
        if let Err(e) = store.finish_sync(sync_id, Some(&message), calls) {
            tracing::warn!(sync_run = sync_id, error = %format!("{e:#}"), "could not mark the run failed");
        }
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn sync_run(
    plugins: &Plugins,
    ctx: &CallContext,
    store: &mut Store,
    options: &SyncOptions,
    progress: &Progress,
    sync_id: i64,
    resumed: bool,
    started: Instant,
) -> Result<SyncReport> {
    let mut types = Vec::new();
    let mut fatal = false;
    let mut interrupted = false;
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
        } else if !store.plugin_done(sync_id, &syncer.name)? {
            progress.set_type(&info.id);
            match sync_type(syncer, ctx, store, sync_id, options, progress).await {
                Ok(()) => {}
                Err(Stop::Interrupted) => {
                    interrupted = true;
                    break;
                }
                Err(Stop::Failed(failure)) => {
                    let (e, what) = *failure;
                    fatal = is_fatal(&e);
                    report.error = Some(describe(&syncer.name, &info.id, &what, &e, ctx, options));
                }
            }
        }
        (report.resources, report.grants) = store.type_counts(sync_id, &info.id)?;
        if info.enriches {
            if let Some(e) = &report.error {
                store.add_type_error(sync_id, &info.id, &format!("{}: {e}", syncer.name))?;
            }
        } else {
            store.put_resource_type(
                sync_id,
                &info.id,
                &info.display_name,
                &syncer.name,
                report.error.as_deref(),
            )?;
        }
        if report.error.is_none() {
            store.mark_plugin_done(sync_id, &syncer.name)?;
        }
        progress.type_done(&report);
        types.push(report);
    }
    let api_calls = ctx.http_calls.load(Ordering::Relaxed);
    let failures: Vec<String> = types
        .iter()
        .filter_map(|t| {
            // A type with an enriching plugin names the plugin that failed.
            let shared = plugins
                .syncers
                .iter()
                .filter(|s| s.info.id == t.resource_type)
                .count()
                > 1;
            let who = match shared {
                true => format!("{} ({})", t.resource_type, t.plugin),
                false => t.resource_type.clone(),
            };
            t.error.as_ref().map(|e| format!("{who}: {e}"))
        })
        .collect();
    let error = (!failures.is_empty()).then(|| failures.join("\n"));
    if interrupted {
        store.add_api_calls(sync_id, api_calls)?;
    } else {
        store.finish_sync(sync_id, error.as_deref(), api_calls)?;
    }
    progress.finish(interrupted, error.is_some());
    Ok(SyncReport {
        account: options.account.clone(),
        sync_id,
        types,
        api_calls,
        elapsed: started.elapsed(),
        error,
        resumed,
        interrupted,
    })
}

fn internal(e: anyhow::Error) -> Stop {
    Stop::from((
        CallError::Trap(format!("store error: {e:#}")),
        "storing results".to_string(),
    ))
}

async fn sync_type(
    syncer: &Syncer,
    ctx: &CallContext,
    store: &mut Store,
    sync_id: i64,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<(), Stop> {
    let info = &syncer.info;
    let parents: Vec<Option<Resource>> = match &info.parent_type {
        None => vec![None],
        Some(parent_type) => store
            .plugin_resources(sync_id, parent_type, None)
            .map_err(internal)?
            .into_iter()
            .map(Some)
            .collect(),
    };
    let what = format!("listing {} resources", info.id);
    let mut todo = Vec::new();
    for parent in parents {
        let parent_id = parent.as_ref().map_or("", |p| p.ref_.id.as_str());
        match store
            .list_progress(sync_id, &syncer.name, parent_id)
            .map_err(internal)?
        {
            ListProgress::Done => {}
            ListProgress::At(token) => todo.push((parent, Some(token))),
            ListProgress::NotStarted => todo.push((parent, None)),
        }
    }
    if info.parent_type.is_none() {
        // One listing: each page is stored, with where it continues, as it arrives.
        for (_, mut token) in todo {
            let mut pager = Pager::new(options);
            loop {
                if options.stopping() {
                    return Err(Stop::Interrupted);
                }
                let page = list_page(syncer, ctx, options, None, token.as_deref(), &what).await?;
                pager
                    .check(page.items.len(), page.next_page_token.as_deref())
                    .map_err(|e| (e, what.clone()))?;
                store
                    .put_resource_page(
                        sync_id,
                        &syncer.name,
                        info.enriches,
                        "",
                        &page.items,
                        page.next_page_token.as_deref(),
                    )
                    .map_err(internal)?;
                progress.add_page(page.items.len(), 0, ctx.http_calls.load(Ordering::Relaxed));
                match page.next_page_token {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
    } else {
        // One listing per parent (usually a single page), run concurrently; each parent's
        // resources are stored together when its listing ends, which is its checkpoint.
        let what = &what;
        let per_parent = todo
            .into_iter()
            .filter_map(|(parent, token)| parent.map(|p| (p, token)));
        each_concurrently(
            per_parent,
            options,
            |(parent, token)| list_all(syncer, ctx, options, parent, token, what),
            |(parent, items)| {
                store
                    .put_resource_page(
                        sync_id,
                        &syncer.name,
                        info.enriches,
                        &parent.ref_.id,
                        &items,
                        None,
                    )
                    .map_err(internal)?;
                progress.add_page(items.len(), 0, ctx.http_calls.load(Ordering::Relaxed));
                Ok(())
            },
        )
        .await?;
    }
    if syncer.info.skip_entitlements_and_grants {
        return Ok(());
    }
    // Read back from the store, so that a resumed run picks up exactly what is missing.
    let pending = store
        .plugin_resources(sync_id, &info.id, Some(&syncer.name))
        .map_err(internal)?;
    each_concurrently(
        pending.iter(),
        options,
        |resource| access_of(syncer, ctx, options, resource),
        |(resource, entitlements, grants, attributes)| {
            store
                .put_access(
                    sync_id,
                    &syncer.name,
                    &resource.ref_,
                    &entitlements,
                    &grants,
                    &attributes,
                )
                .map_err(internal)?;
            progress.add_page(0, grants.len(), ctx.http_calls.load(Ordering::Relaxed));
            Ok(())
        },
    )
    .await
}

/// Runs `work` on each item, `--concurrency` at a time, and hands each result to `keep` as
/// it completes. Once a stop is asked for no new work starts; the work in flight finishes
/// and is kept, then the run stops, resumable.
async fn each_concurrently<I, T, Fut>(
    items: I,
    options: &SyncOptions,
    work: impl Fn(I::Item) -> Fut,
    mut keep: impl FnMut(T) -> Result<(), Stop>,
) -> Result<(), Stop>
where
    I: IntoIterator,
    Fut: Future<Output = Result<T, Stop>>,
{
    let work = &work;
    let mut results = futures::stream::iter(items)
        .map(|item| async move {
            if options.stopping() {
                return None;
            }
            Some(work(item).await)
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut stopped = false;
    while let Some(result) = results.next().await {
        match result {
            None => stopped = true,
            Some(done) => keep(done?)?,
        }
    }
    if stopped {
        return Err(Stop::Interrupted);
    }
    Ok(())
}

/// One page of a syncer's resources, checked: every item of its type, under the parent it
/// was asked about (if any), and a page token that moves on.
async fn list_page(
    syncer: &Syncer,
    ctx: &CallContext,
    options: &SyncOptions,
    parent: Option<&Resource>,
    token: Option<&str>,
    what: &str,
) -> Result<crate::engine::ResourcePage, Stop> {
    let page = retry(options, what, || syncer.list_resources(ctx, parent, token))
        .await
        .map_err(|e| (e, what.to_string()))?;
    let parent_ref = parent.map(|p| &p.ref_);
    let fault = if let Some(r) = page
        .items
        .iter()
        .find(|r| r.ref_.resource_type != syncer.info.id)
    {
        Some(format!(
            "returned a resource of type {:?} while listing {:?}",
            r.ref_.resource_type, syncer.info.id
        ))
    } else if let Some(r) = page.items.iter().find(|r| match (&r.parent, parent_ref) {
        (None, _) => false,
        (Some(p), Some(asked)) => !same(p, asked),
        (Some(_), None) => true,
    }) {
        let p = r.parent.as_ref().expect("checked");
        Some(format!(
            "returned {} {:?} under {}:{}, which it was not asked to list",
            r.ref_.resource_type, r.ref_.id, p.resource_type, p.id
        ))
    } else {
        match &page.next_page_token {
            Some(next) if token == Some(next.as_str()) => {
                Some(format!("returned the same page token {next:?} twice"))
            }
            _ => None,
        }
    };
    match fault {
        Some(f) => Err((CallError::Trap(f), what.to_string()).into()),
        None => Ok(page),
    }
}

/// Every page of the resources under one parent.
async fn list_all(
    syncer: &Syncer,
    ctx: &CallContext,
    options: &SyncOptions,
    parent: Resource,
    mut token: Option<String>,
    what: &str,
) -> Result<(Resource, Vec<Resource>), Stop> {
    let mut items = Vec::new();
    let mut pager = Pager::new(options);
    loop {
        let page = list_page(syncer, ctx, options, Some(&parent), token.as_deref(), what).await?;
        pager
            .check(page.items.len(), page.next_page_token.as_deref())
            .map_err(|e| (e, what.to_string()))?;
        items.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return Ok((parent, items)),
        }
    }
}

/// One resource's entitlements, grants, and attributes learned while listing grants.
type Access<'r> = (
    &'r Resource,
    Vec<crate::engine::Entitlement>,
    Vec<crate::engine::Grant>,
    Vec<(String, String)>,
);

/// All pages of one resource's entitlements and grants.
async fn access_of<'r>(
    syncer: &Syncer,
    ctx: &CallContext,
    options: &SyncOptions,
    resource: &'r Resource,
) -> Result<Access<'r>, Stop> {
    let mut entitlements = Vec::new();
    let mut token: Option<String> = None;
    let mut pager = Pager::new(options);
    loop {
        let what = format!(
            "listing the entitlements of {} {}",
            resource.ref_.resource_type, resource.name
        );
        let page = retry(options, &what, || {
            syncer.entitlements(ctx, resource, token.as_deref())
        })
        .await
        .map_err(|e| (e, what.clone()))?;
        pager
            .check(page.items.len(), page.next_page_token.as_deref())
            .and_then(|()| {
                owned_by(
                    resource,
                    page.items.iter().map(|e| &e.resource),
                    "an entitlement",
                )
            })
            .map_err(|e| (e, what.clone()))?;
        entitlements.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let mut grants = Vec::new();
    let mut attributes = Vec::new();
    let mut token: Option<String> = None;
    let mut pager = Pager::new(options);
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
        pager
            .check(page.items.len(), page.next_page_token.as_deref())
            .and_then(|()| owned_by(resource, page.items.iter().map(|g| &g.resource), "a grant"))
            .map_err(|e| (e, what.clone()))?;
        grants.extend(page.items);
        attributes.extend(page.resource_attributes);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok((resource, entitlements, grants, attributes))
}

fn same(a: &crate::engine::ResourceRef, b: &crate::engine::ResourceRef) -> bool {
    a.resource_type == b.resource_type && a.id == b.id
}

/// Plugin output is untrusted: the entitlements and grants of a resource must all be that
/// resource's, which the plugin itself listed (or, for an enriching plugin, was given) in
/// this sync. Anything else could overwrite or pre-empt another plugin's rows.
fn owned_by<'a>(
    resource: &Resource,
    refs: impl IntoIterator<Item = &'a crate::engine::ResourceRef>,
    what: &str,
) -> Result<(), CallError> {
    match refs.into_iter().find(|r| !same(r, &resource.ref_)) {
        None => Ok(()),
        Some(other) => Err(CallError::Trap(format!(
            "returned {what} of {}:{} while asked about {}:{}; a plugin may only describe the resources it was asked about",
            other.resource_type, other.id, resource.ref_.resource_type, resource.ref_.id
        ))),
    }
}

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
