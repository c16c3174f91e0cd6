//! One account's sync: open (or resume) its run, sync each resource type in order, and
//! record how it ended.

use crate::interfaces::{SyncStore, TypeSyncer};
use crate::options::{AUTO_RESUME_WITHIN, SyncOptions};
use crate::paging::{Pager, Stop, access_of, list_all, list_page};
use crate::progress::Progress;
use crate::retry::describe;
use anyhow::Result;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ramsync_engine::Plugins;
use ramsync_engine::{CallContext, CallError, PluginError, Resource};
use ramsync_model::TypeReport;
use ramsync_store::{ListProgress, RunContext, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// The outcome of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The account synced.
    pub account: String,
    /// The sync run it was recorded as.
    pub sync_id: i64,
    /// Per resource type: counts, or why it failed.
    pub types: Vec<TypeReport>,
    /// API calls made by this process (a resumed run's earlier calls are in the store).
    pub api_calls: u64,
    /// Wall-clock time of this process's part of the run.
    pub elapsed: Duration,
    /// Why the sync failed, one line per failed type; None when complete.
    pub error: Option<String>,
    /// The run continued an interrupted one.
    pub resumed: bool,
    /// The run stopped when asked to and can be resumed.
    pub interrupted: bool,
}

impl SyncReport {
    /// Every type synced and the run was not stopped.
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

/// What this sync runs against: its endpoints, and who its credentials are (None when STS
/// GetCallerIdentity could not say; the plugins then report what is wrong).
async fn run_context(ctx: &CallContext) -> RunContext {
    let caller = ctx.caller_identity().await.unwrap_or_else(|e| {
        tracing::warn!(error = %format!("{e:#}"), "cannot tell who the credentials are; an interrupted run will not be resumed");
        None
    });
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
fn open_run(
    store: &mut impl SyncStore,
    options: &SyncOptions,
    context: &RunContext,
) -> Result<(i64, bool)> {
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
    sync_types(&plugins.syncers, ctx, store, options, progress).await
}

/// Runs one full sync of `syncers` into `store`, as [`sync`] does.
pub async fn sync_types(
    syncers: &[impl TypeSyncer],
    ctx: &CallContext,
    store: &mut impl SyncStore,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<SyncReport> {
    let started = Instant::now();
    let context = run_context(ctx).await;
    let (sync_id, resumed) = open_run(store, options, &context)?;
    let outcome = sync_run(
        syncers, ctx, store, options, progress, sync_id, resumed, started,
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

/// What the syncers of one run share while they run at the same time.
struct Shared<'s, S> {
    /// Held only between awaits, never across one.
    store: Mutex<&'s mut S>,
    /// Plugin calls in flight, across every type: `--concurrency`.
    permits: Semaphore,
    /// Per syncer, whether its listing has ended (done, failed, skipped or stopped).
    listed: watch::Sender<Vec<bool>>,
    /// Set when a failure means every other call would fail too.
    fatal: AtomicBool,
}

impl<'s, S: SyncStore> Shared<'s, S> {
    fn store(&self) -> MutexGuard<'_, &'s mut S> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[allow(clippy::too_many_arguments)]
async fn sync_run<T: TypeSyncer, S: SyncStore>(
    syncers: &[T],
    ctx: &CallContext,
    store: &mut S,
    options: &SyncOptions,
    progress: &Progress,
    sync_id: i64,
    resumed: bool,
    started: Instant,
) -> Result<SyncReport> {
    // Types are recorded in plugin order, whatever order they end in, so that every listing
    // of them (counts, summaries) is the same from one run to the next.
    for syncer in syncers.iter().filter(|s| !s.info().enriches) {
        let info = syncer.info();
        store.put_resource_type(sync_id, &info.id, &info.display_name, syncer.name(), None)?;
    }
    let shared = Shared {
        store: Mutex::new(store),
        permits: Semaphore::new(options.concurrency.max(1)),
        listed: watch::channel(vec![false; syncers.len()]).0,
        fatal: AtomicBool::new(false),
    };
    // Types run at the same time, each as soon as what it needs is listed, so that every
    // product's request rate is used; `check_order` makes every wait point to an earlier
    // syncer, so none waits forever.
    let mut running: FuturesUnordered<_> = syncers
        .iter()
        .enumerate()
        .map(|(i, syncer)| {
            let (list_after, access_after) = waits(syncers, i);
            let shared = &shared;
            async move {
                let outcome = sync_type(
                    i,
                    syncer,
                    (&list_after, &access_after),
                    shared,
                    ctx,
                    sync_id,
                    options,
                    progress,
                )
                .await;
                (i, outcome)
            }
        })
        .collect();
    let mut reports: Vec<Option<TypeReport>> = vec![None; syncers.len()];
    let mut interrupted = false;
    let mut commit_due = tokio::time::interval(ramsync_store::GROUP_AGE);
    commit_due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (i, outcome) = tokio::select! {
            next = running.next() => match next {
                Some(next) => next,
                None => break,
            },
            _ = commit_due.tick() => {
                shared.store().commit_due()?;
                continue;
            }
        };
        match outcome? {
            Some(report) => reports[i] = Some(report),
            None => interrupted = true,
        }
    }
    drop(running);
    let store = shared.store.into_inner().unwrap_or_else(|p| p.into_inner());
    let types: Vec<TypeReport> = reports.into_iter().flatten().collect();
    let api_calls = ctx.http_calls.load(Ordering::Relaxed);
    let failures: Vec<String> = types
        .iter()
        .filter_map(|t| {
            // A type with an enriching plugin names the plugin that failed.
            let shared = syncers
                .iter()
                .filter(|s| s.info().id == t.resource_type)
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

/// The syncers whose listings syncer `i` waits for.
///
/// Before its own listing: every syncer listing or enriching its parent type (a nested
/// type), so that it is given its parents with all their attributes; or the one listing its
/// own type (an enriching plugin). Before its entitlements and grants: every syncer listing
/// a top-level type, since a grant names its principal, matched by name among the listed
/// resources, and what it matches must not depend on which listing happened to end first;
/// and every other syncer enriching its own type, whose attributes it may read.
fn waits(syncers: &[impl TypeSyncer], i: usize) -> (Vec<usize>, Vec<usize>) {
    let info = syncers[i].info();
    let list_after = (0..i)
        .filter(|&j| {
            let other = syncers[j].info();
            Some(&other.id) == info.parent_type.as_ref()
                || info.enriches && other.id == info.id && !other.enriches
        })
        .collect();
    let access_after = (0..syncers.len())
        .filter(|&j| {
            let other = syncers[j].info();
            j != i
                && (other.parent_type.is_none() && !other.enriches
                    || other.enriches && other.id == info.id)
        })
        .collect();
    (list_after, access_after)
}

/// One syncer's part of the run, recorded as it ends: its report, or None when it
/// stopped because a stop was asked for (it resumes from its checkpoints).
#[allow(clippy::too_many_arguments)]
async fn sync_type<S: SyncStore>(
    i: usize,
    syncer: &impl TypeSyncer,
    (list_after, access_after): (&[usize], &[usize]),
    shared: &Shared<'_, S>,
    ctx: &CallContext,
    sync_id: i64,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<Option<TypeReport>> {
    let info = syncer.info();
    let mut report = TypeReport {
        resource_type: info.id.clone(),
        plugin: syncer.name().to_string(),
        resources: 0,
        grants: 0,
        error: None,
    };
    let mut listed = shared.listed.subscribe();
    let _ = listed
        .wait_for(|done| list_after.iter().all(|&j| done[j]))
        .await;
    let outcome = if shared.fatal.load(Ordering::Relaxed) {
        report.error = Some("skipped: the credential was rejected".into());
        Ok(())
    } else if shared.store().plugin_done(sync_id, syncer.name())? {
        Ok(())
    } else {
        progress.set_type(&info.id);
        let listing = list_type(syncer, ctx, shared, sync_id, options, progress).await;
        shared.listed.send_modify(|done| done[i] = true);
        match listing {
            Ok(()) if !info.skip_entitlements_and_grants => {
                let _ = listed
                    .wait_for(|done| access_after.iter().all(|&j| done[j]))
                    .await;
                access_phase(syncer, ctx, shared, sync_id, options, progress).await
            }
            other => other,
        }
    };
    shared.listed.send_modify(|done| done[i] = true);
    match outcome {
        Ok(()) => {}
        Err(Stop::Interrupted) => return Ok(None),
        Err(Stop::Failed(failure)) => {
            let (e, what) = *failure;
            if is_fatal(&e) {
                shared.fatal.store(true, Ordering::Relaxed);
            }
            report.error = Some(describe(syncer.name(), &info.id, &what, &e, ctx, options));
        }
    }
    let store = shared.store();
    (report.resources, report.grants) = store.type_counts(sync_id, &info.id)?;
    if info.enriches {
        if let Some(e) = &report.error {
            store.add_type_error(sync_id, &info.id, &format!("{}: {e}", syncer.name()))?;
        }
    } else {
        store.put_resource_type(
            sync_id,
            &info.id,
            &info.display_name,
            syncer.name(),
            report.error.as_deref(),
        )?;
    }
    if report.error.is_none() {
        store.mark_plugin_done(sync_id, syncer.name())?;
    }
    drop(store);
    progress.type_done(&report);
    Ok(Some(report))
}

fn internal(e: anyhow::Error) -> Stop {
    Stop::from((
        CallError::Trap(format!("store error: {e:#}")),
        "storing results".to_string(),
    ))
}

/// A syncer's resources: one listing for a top-level type, one per parent for a nested one.
async fn list_type<S: SyncStore>(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    shared: &Shared<'_, S>,
    sync_id: i64,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<(), Stop> {
    let info = syncer.info();
    let what = format!("listing {} resources", info.id);
    if let Some(parent_type) = &info.parent_type {
        let mut parents = Chunks::of(parent_type, None);
        while let Some(chunk) = parents.next(shared, sync_id)? {
            let todo = unfinished(shared, sync_id, syncer.name(), chunk)?;
            list_nested(syncer, ctx, shared, sync_id, options, progress, todo, &what).await?;
        }
        return Ok(());
    }
    {
        // One listing: each page is stored, with where it continues, as it arrives.
        let todo = unfinished(shared, sync_id, syncer.name(), vec![None])?;
        for (_, mut token) in todo {
            let mut pager = Pager::new(options, token.as_deref());
            loop {
                if options.stopping() {
                    return Err(Stop::Interrupted);
                }
                let permit = shared.permits.acquire().await;
                let page = list_page(
                    syncer,
                    ctx,
                    options,
                    &mut pager,
                    None,
                    token.as_deref(),
                    &what,
                )
                .await?;
                drop(permit);
                let count = page.items.len();
                shared
                    .store()
                    .put_resource_page(
                        sync_id,
                        syncer.name(),
                        info.enriches,
                        "",
                        page.items,
                        page.next_page_token.as_deref(),
                    )
                    .map_err(internal)?;
                progress.add_page(
                    &info.id,
                    listed(info, count),
                    0,
                    ctx.http_calls.load(Ordering::Relaxed),
                );
                match page.next_page_token {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }
}

/// Resources read from the store at a time, for a nested type's parents and for the
/// entitlements and grants phase.
const CHUNK: usize = 2000;

/// A type's resources read from the store [`CHUNK`] at a time in id order (keyset paging),
/// so that a large type is never all in memory at once; with `pending_for`, only those that
/// plugin has not stored the access of.
struct Chunks<'a> {
    resource_type: &'a str,
    pending_for: Option<&'a str>,
    after: String,
}

impl<'a> Chunks<'a> {
    fn of(resource_type: &'a str, pending_for: Option<&'a str>) -> Self {
        Chunks {
            resource_type,
            pending_for,
            after: String::new(),
        }
    }

    fn next<S: SyncStore>(
        &mut self,
        shared: &Shared<'_, S>,
        sync_id: i64,
    ) -> Result<Option<Vec<Resource>>, Stop> {
        let chunk = shared
            .store()
            .plugin_resources(
                sync_id,
                self.resource_type,
                self.pending_for,
                &self.after,
                CHUNK,
            )
            .map_err(internal)?;
        Ok(chunk.last().map(|last| last.ref_.id.clone()).map(|after| {
            self.after = after;
            chunk
        }))
    }
}

/// Of these listings (per parent, or the one of a top-level type), those not done yet in
/// this run, each with the page token it continues from.
fn unfinished<S: SyncStore, P: Parent>(
    shared: &Shared<'_, S>,
    sync_id: i64,
    plugin: &str,
    parents: Vec<P>,
) -> Result<Vec<(P, Option<String>)>, Stop> {
    let store = shared.store();
    let mut todo = Vec::new();
    for parent in parents {
        match store
            .list_progress(sync_id, plugin, parent.id())
            .map_err(internal)?
        {
            ListProgress::Done => {}
            ListProgress::At(token) => todo.push((parent, Some(token))),
            ListProgress::NotStarted => todo.push((parent, None)),
        }
    }
    Ok(todo)
}

/// What a listing is per: a parent resource, or nothing for a top-level type.
trait Parent {
    fn id(&self) -> &str;
}

impl Parent for Resource {
    fn id(&self) -> &str {
        &self.ref_.id
    }
}

impl Parent for Option<Resource> {
    fn id(&self) -> &str {
        self.as_ref().map_or("", |p| p.ref_.id.as_str())
    }
}

/// One listing per parent (usually a single page), run concurrently; each parent's
/// resources are stored together when its listing ends, which is its checkpoint.
#[allow(clippy::too_many_arguments)]
async fn list_nested<S: SyncStore>(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    shared: &Shared<'_, S>,
    sync_id: i64,
    options: &SyncOptions,
    progress: &Progress,
    todo: Vec<(Resource, Option<String>)>,
    what: &str,
) -> Result<(), Stop> {
    let info = syncer.info();
    each_concurrently(
        todo,
        options,
        &shared.permits,
        |(parent, token)| list_all(syncer, ctx, options, parent, token, what),
        |(parent, items)| {
            let count = items.len();
            shared
                .store()
                .put_resource_page(
                    sync_id,
                    syncer.name(),
                    info.enriches,
                    &parent.ref_.id,
                    items,
                    None,
                )
                .map_err(internal)?;
            progress.add_page(
                &info.id,
                listed(info, count),
                0,
                ctx.http_calls.load(Ordering::Relaxed),
            );
            Ok(())
        },
    )
    .await
}

/// The entitlements and grants of each of a syncer's resources not yet done in this run.
async fn access_phase<S: SyncStore>(
    syncer: &impl TypeSyncer,
    ctx: &CallContext,
    shared: &Shared<'_, S>,
    sync_id: i64,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<(), Stop> {
    let info = syncer.info();
    // Read back from the store, so that a resumed run picks up exactly what is missing.
    let mut chunks = Chunks::of(&info.id, Some(syncer.name()));
    while let Some(pending) = chunks.next(shared, sync_id)? {
        each_concurrently(
            pending.iter(),
            options,
            &shared.permits,
            |resource| access_of(syncer, ctx, options, resource),
            |(resource, entitlements, grants, attributes)| {
                let count = grants.len();
                shared
                    .store()
                    .put_access(
                        sync_id,
                        syncer.name(),
                        &resource.ref_,
                        entitlements,
                        grants,
                        attributes,
                    )
                    .map_err(internal)?;
                progress.add_page(&info.id, 0, count, ctx.http_calls.load(Ordering::Relaxed));
                Ok(())
            },
        )
        .await?;
    }
    Ok(())
}

/// Runs `work` on each item, as many at a time as `permits` allow, and hands each result to `keep` as
/// it completes. Once a stop is asked for no new work starts; the work in flight finishes
/// and is kept, then the run stops, resumable.
async fn each_concurrently<I, T, Fut>(
    items: I,
    options: &SyncOptions,
    permits: &Semaphore,
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
            let _permit = permits.acquire().await;
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

/// Resources a page adds to its type's count: none for an enriching plugin, whose items
/// are resources another plugin listed.
fn listed(info: &ramsync_model::TypeInfo, items: usize) -> usize {
    if info.enriches { 0 } else { items }
}
