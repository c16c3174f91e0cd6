//! What the scheduler needs from the layers below it, and no more: a [`TypeSyncer`] lists
//! one resource type (the engine's syncer plugins are one), a [`SyncStore`] keeps a run's
//! checkpoints and results (the SQLite store is one). Everything else of the engine and the
//! store stays out of reach, and the scheduler's tests can run it against fakes.

use ramsync_engine::{
    CallContext, CallError, Entitlement, EntitlementPage, Grant, GrantPage, Resource, ResourcePage,
    ResourceRef, Syncer, TypeInfo,
};
use ramsync_store::{ListProgress, RunContext, Store, SyncRun};
use std::sync::Arc;

/// One resource type's listing calls. Each call makes its own API requests through `ctx`;
/// its output is untrusted and checked by the scheduler.
pub trait TypeSyncer: Send + Sync {
    /// The plugin's name, under which its progress is checkpointed.
    fn name(&self) -> &str;
    /// The resource type it lists, and how (nested, enriching, with or without access).
    fn info(&self) -> &TypeInfo;
    /// One page of resources, under `parent` for a nested type, from `token`.
    fn list_resources(
        &self,
        ctx: &CallContext,
        parent: Option<&Resource>,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ResourcePage, CallError>> + Send;
    /// One page of a resource's entitlements.
    fn entitlements(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> impl Future<Output = Result<EntitlementPage, CallError>> + Send;
    /// One page of a resource's grants.
    fn grants(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> impl Future<Output = Result<GrantPage, CallError>> + Send;
}

// The engine's syncers, shared as `Arc`s by the plugin set.
impl TypeSyncer for Arc<Syncer> {
    fn name(&self) -> &str {
        &self.name
    }
    fn info(&self) -> &TypeInfo {
        &self.info
    }
    fn list_resources(
        &self,
        ctx: &CallContext,
        parent: Option<&Resource>,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ResourcePage, CallError>> + Send {
        Syncer::list_resources(self, ctx, parent, token)
    }
    fn entitlements(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> impl Future<Output = Result<EntitlementPage, CallError>> + Send {
        Syncer::entitlements(self, ctx, resource, token)
    }
    fn grants(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> impl Future<Output = Result<GrantPage, CallError>> + Send {
        Syncer::grants(self, ctx, resource, token)
    }
}

/// Where a sync keeps its run: the run's record and context, a checkpoint per listing and
/// per plugin, and the resources and access it finds. A page and its checkpoint are stored
/// together; pages may be committed in groups, so an interrupted run resumes after the last
/// committed one. Ending or stopping a run commits everything before it.
pub trait SyncStore {
    /// Commits pages written a while ago and not yet committed; called now and then while
    /// a run is going, so that a pause in its writes never holds them (or a lock) back.
    fn commit_due(&self) -> anyhow::Result<()> {
        Ok(())
    }
    /// The account's newest run still marked running, if any.
    fn unfinished_run(&self, account: &str) -> anyhow::Result<Option<SyncRun>>;
    /// The endpoints and caller identity a run was recorded with.
    fn run_context(&self, sync_id: i64) -> anyhow::Result<Option<RunContext>>;
    /// Ends an unfinished run as failed, with why it was not resumed.
    fn abandon_run(&mut self, sync_id: i64, reason: &str) -> anyhow::Result<()>;
    /// Starts a new run for the account.
    fn begin_sync(&self, account: &str) -> anyhow::Result<i64>;
    /// Records the endpoints and caller identity of a run.
    fn put_run_context(&self, sync_id: i64, context: &RunContext) -> anyhow::Result<()>;
    /// Ends a run: complete without an error, failed with one.
    fn finish_sync(
        &mut self,
        sync_id: i64,
        error: Option<&str>,
        api_calls: u64,
    ) -> anyhow::Result<()>;
    /// Adds API calls to a run left resumable.
    fn add_api_calls(&self, sync_id: i64, api_calls: u64) -> anyhow::Result<()>;
    /// Whether a plugin finished in this run.
    fn plugin_done(&self, sync_id: i64, plugin: &str) -> anyhow::Result<bool>;
    /// Marks a plugin finished in this run.
    fn mark_plugin_done(&self, sync_id: i64, plugin: &str) -> anyhow::Result<()>;
    /// How far a plugin's listing (under a parent, or "") got.
    fn list_progress(
        &self,
        sync_id: i64,
        plugin: &str,
        parent_id: &str,
    ) -> anyhow::Result<ListProgress>;
    /// Stores a page of resources and where the listing continues, together.
    #[allow(clippy::too_many_arguments)]
    fn put_resource_page(
        &mut self,
        sync_id: i64,
        plugin: &str,
        enriches: bool,
        parent_id: &str,
        resources: Vec<Resource>,
        next_token: Option<&str>,
    ) -> anyhow::Result<()>;
    /// Up to `limit` resources of a type whose id sorts after `after`, by id; with
    /// `pending_for`, those that plugin has not yet stored the access of.
    fn plugin_resources(
        &self,
        sync_id: i64,
        resource_type: &str,
        pending_for: Option<&str>,
        after: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<Resource>>;
    /// Stores a resource's entitlements, grants and attributes, together.
    fn put_access(
        &mut self,
        sync_id: i64,
        plugin: &str,
        resource: &ResourceRef,
        entitlements: Vec<Entitlement>,
        grants: Vec<Grant>,
        attributes: Vec<(String, String)>,
    ) -> anyhow::Result<()>;
    /// Records a resource type and whether it synced.
    fn put_resource_type(
        &self,
        sync_id: i64,
        id: &str,
        display_name: &str,
        plugin: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()>;
    /// Adds an enriching plugin's failure to a type listed by another.
    fn add_type_error(&self, sync_id: i64, resource_type: &str, error: &str) -> anyhow::Result<()>;
    /// The resources and grants stored for a type in this run.
    fn type_counts(&self, sync_id: i64, resource_type: &str) -> anyhow::Result<(usize, usize)>;
}

impl SyncStore for Store {
    fn commit_due(&self) -> anyhow::Result<()> {
        Store::commit_group_if_due(self)
    }
    fn unfinished_run(&self, account: &str) -> anyhow::Result<Option<SyncRun>> {
        Store::unfinished_run(self, account)
    }
    fn run_context(&self, sync_id: i64) -> anyhow::Result<Option<RunContext>> {
        Store::run_context(self, sync_id)
    }
    fn abandon_run(&mut self, sync_id: i64, reason: &str) -> anyhow::Result<()> {
        Store::abandon_run(self, sync_id, reason)
    }
    fn begin_sync(&self, account: &str) -> anyhow::Result<i64> {
        Store::begin_sync(self, account)
    }
    fn put_run_context(&self, sync_id: i64, context: &RunContext) -> anyhow::Result<()> {
        Store::put_run_context(self, sync_id, context)
    }
    fn finish_sync(
        &mut self,
        sync_id: i64,
        error: Option<&str>,
        api_calls: u64,
    ) -> anyhow::Result<()> {
        Store::finish_sync(self, sync_id, error, api_calls)
    }
    fn add_api_calls(&self, sync_id: i64, api_calls: u64) -> anyhow::Result<()> {
        Store::add_api_calls(self, sync_id, api_calls)
    }
    fn plugin_done(&self, sync_id: i64, plugin: &str) -> anyhow::Result<bool> {
        Store::plugin_done(self, sync_id, plugin)
    }
    fn mark_plugin_done(&self, sync_id: i64, plugin: &str) -> anyhow::Result<()> {
        Store::mark_plugin_done(self, sync_id, plugin)
    }
    fn list_progress(
        &self,
        sync_id: i64,
        plugin: &str,
        parent_id: &str,
    ) -> anyhow::Result<ListProgress> {
        Store::list_progress(self, sync_id, plugin, parent_id)
    }
    fn put_resource_page(
        &mut self,
        sync_id: i64,
        plugin: &str,
        enriches: bool,
        parent_id: &str,
        resources: Vec<Resource>,
        next_token: Option<&str>,
    ) -> anyhow::Result<()> {
        Store::put_resource_page(
            self, sync_id, plugin, enriches, parent_id, resources, next_token,
        )
    }
    fn plugin_resources(
        &self,
        sync_id: i64,
        resource_type: &str,
        pending_for: Option<&str>,
        after: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<Resource>> {
        Store::plugin_resources(self, sync_id, resource_type, pending_for, after, limit)
    }
    fn put_access(
        &mut self,
        sync_id: i64,
        plugin: &str,
        resource: &ResourceRef,
        entitlements: Vec<Entitlement>,
        grants: Vec<Grant>,
        attributes: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        Store::put_access(
            self,
            sync_id,
            plugin,
            resource,
            entitlements,
            grants,
            attributes,
        )
    }
    fn put_resource_type(
        &self,
        sync_id: i64,
        id: &str,
        display_name: &str,
        plugin: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        Store::put_resource_type(self, sync_id, id, display_name, plugin, error)
    }
    fn add_type_error(&self, sync_id: i64, resource_type: &str, error: &str) -> anyhow::Result<()> {
        Store::add_type_error(self, sync_id, resource_type, error)
    }
    fn type_counts(&self, sync_id: i64, resource_type: &str) -> anyhow::Result<(usize, usize)> {
        Store::type_counts(self, sync_id, resource_type)
    }
}
