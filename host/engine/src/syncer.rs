//! Syncer plugins: a fresh store per call, what the host signs for it and what it may send,
//! and how a call ended.

use crate::action_policy::{ActionPolicy, CallKind, Ledger};
use crate::bindings;
use crate::bindings::signer::ramsync::connector::types as wit;
use crate::component::{check_wit_version, compile, wctx};
use crate::http_policy::{Endpoints, HttpActivity, HttpPolicy, RateLimits, Refusal};
use crate::runtime::Runtime;
use crate::sandbox::{CpuMeter, MemoryLimiter};
use crate::sandbox::{Limits, bare_wasi, trap_message};
use crate::signer::Signer;
use crate::syncer_state::{CallState, SyncerState};
use anyhow::Result;
use ramsync_credentials::Credential;
use ramsync_model::{
    Change, EntitlementPage, GrantPage, PluginError, Resource, ResourcePage, TypeInfo,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi_http::WasiHttpCtx;

/// Signs on behalf of a syncer with one account's credentials.
pub struct Auth {
    /// The signer plugin, the only one that sees the credential.
    pub signer: Arc<Signer>,
    /// Where the credential comes from.
    pub source: ramsync_credentials::sts::CredentialSource,
}

impl Auth {
    /// A fixed AccessKey or STS credential.
    pub fn fixed(signer: Arc<Signer>, credential: Credential) -> Self {
        Auth {
            signer,
            source: ramsync_credentials::sts::CredentialSource::Fixed(credential),
        }
    }
}

/// Everything a syncer call needs from the host, shared by all calls of one sync.
#[derive(Clone)]
pub struct CallContext {
    /// Where calls go; every other host is refused.
    pub endpoints: Arc<Endpoints>,
    /// How calls are signed; None sends them unsigned (tests of the policy).
    pub auth: Option<Arc<Auth>>,
    /// The limits each call is held to.
    pub limits: Limits,
    /// This account's request rates, per product.
    pub rates: Arc<RateLimits>,
    /// API calls made by plugins through this context.
    pub http_calls: Arc<AtomicU64>,
    /// When set, the `product:Action` of every call is recorded here (`run-plugin`).
    pub actions: Option<Arc<std::sync::Mutex<Vec<String>>>>,
    /// Syncer instances kept between this context's calls (one account's sync).
    warm: Arc<WarmSyncers>,
}

impl CallContext {
    /// A context without a rate limit.
    pub fn new(endpoints: Endpoints, auth: Option<Arc<Auth>>, limits: Limits) -> Self {
        Self::with_rates(endpoints, auth, limits, RateLimits::unlimited())
    }

    /// A context with per-product request rates.
    pub fn with_rates(
        endpoints: Endpoints,
        auth: Option<Arc<Auth>>,
        limits: Limits,
        rates: RateLimits,
    ) -> Self {
        CallContext {
            endpoints: Arc::new(endpoints),
            auth,
            limits,
            rates: Arc::new(rates),
            http_calls: Arc::default(),
            actions: None,
            warm: Arc::default(),
        }
    }

    /// Who this context's credentials are (STS GetCallerIdentity, counted as an API call
    /// when it answers). None without credentials or when they cannot be had (the plugin
    /// calls then say why); an error when STS does not say.
    pub async fn caller_identity(&self) -> anyhow::Result<Option<String>> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let Ok(credential) = auth
            .source
            .current(auth.signer.as_ref(), &self.endpoints)
            .await
        else {
            return Ok(None);
        };
        let identity = ramsync_credentials::sts::caller_identity(
            auth.signer.as_ref(),
            &self.endpoints,
            &credential,
        )
        .await?;
        self.http_calls.fetch_add(1, Ordering::Relaxed);
        Ok(Some(identity))
    }
}

/// Syncer instances kept for reuse within one account's sync, per plugin: an instance lists
/// the pages of one resource type of one account, and sees no secret. Each call still gets
/// its own CPU budget, deadline, signing ledger and HTTP policy; an instance that trapped,
/// timed out, was refused a request or holds much memory is dropped, never kept.
#[derive(Default)]
struct WarmSyncers {
    by_plugin: Mutex<HashMap<String, Vec<WarmSyncer>>>,
}

/// A syncer instance between calls, with its store and the slot that store holds.
struct WarmSyncer {
    store: Store<SyncerState>,
    instance: bindings::syncer::SyncerPlugin,
    _slot: OwnedSemaphorePermit,
    _kept: crate::runtime::Kept,
}

impl WarmSyncers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<WarmSyncer>>> {
        self.by_plugin.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops up to `at_most` idle instances of plugins other than `keep`, giving back their
    /// slots: a type that has finished listing must not hold the slots, nor the room for
    /// kept instances, that the types still running need. Says whether any was dropped.
    fn evict_others(&self, keep: &str, at_most: usize) -> bool {
        let evicted: Vec<WarmSyncer> = {
            let mut by_plugin = self.lock();
            by_plugin
                .iter_mut()
                .filter(|(name, _)| name.as_str() != keep)
                .flat_map(|(_, idle)| std::iter::from_fn(|| idle.pop()))
                .take(at_most)
                .collect()
        };
        !evicted.is_empty()
    }
}

/// Why a syncer call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The plugin returned a typed error, usually from the API.
    Plugin(PluginError),
    /// The plugin tried to reach a host outside the allowlist.
    Denied {
        /// The address it tried.
        host: String,
    },
    /// The plugin tried to call a product its manifest does not grant it.
    NotGranted {
        /// The product it tried.
        product: String,
        /// The address it tried.
        host: String,
        /// The products its manifest grants.
        granted: Vec<String>,
    },
    /// The host refused to sign or send a request: an action the call may not make, or a
    /// request the host did not sign as it is.
    Refused(String),
    /// The plugin trapped, ran past its CPU deadline or hit its memory cap.
    Trap(String),
    /// The call took longer than the wall-clock limit.
    Timeout(Duration),
    /// The credentials could not be obtained, for example AssumeRole was refused.
    Credentials(String),
}

/// A loaded syncer plugin.
pub struct Syncer {
    /// Its name in the manifest.
    pub name: String,
    /// The resource type it lists, as it describes it.
    pub info: TypeInfo,
    /// What its manifest grants: the products it may call, and whether it may provision.
    pub products: Arc<[String]>,
    /// Whether it may grant and revoke.
    pub provisions: bool,
    /// The actions the host signs for it.
    pub actions: Arc<ActionPolicy>,
    /// The WIT version it was built against, read from its exports.
    pub wit_version: String,
    pre: bindings::syncer::SyncerPluginPre<SyncerState>,
    runtime: Runtime,
}

impl Syncer {
    /// Compiles and pre-instantiates a syncer, and asks it for its resource type.
    pub async fn load(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        capabilities: &crate::manifest::Capabilities,
    ) -> Result<Self> {
        let engine = &runtime.engine;
        let component = compile(engine, name, wasm)?;
        let wit_version = check_wit_version(engine, name, &component)?;
        let mut linker = Linker::<SyncerState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::syncer::SyncerPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = wctx(linker.instantiate_pre(&component), || {
            format!("plugin {name}: cannot link: it imports what the host does not grant a syncer")
        })?;
        let pre = wctx(bindings::syncer::SyncerPluginPre::new(pre), || {
            format!("plugin {name}: does not export the syncer interface")
        })?;
        let mut syncer = Syncer {
            name: name.to_string(),
            info: TypeInfo {
                id: String::new(),
                display_name: String::new(),
                parent_type: None,
                skip_entitlements_and_grants: true,
                provisions: Vec::new(),
                enriches: false,
            },
            products: capabilities.products.clone().into(),
            provisions: capabilities.provisions,
            actions: Arc::new(capabilities.action_policy()),
            wit_version,
            pre,
            runtime: runtime.clone(),
        };
        let ctx = CallContext::new(Endpoints::default(), None, limits);
        let _slot = runtime.slot(false).await;
        let (call, _) = syncer.call_state(&ctx, None, CallKind::Sync);
        let mut store = syncer.new_store(&limits, call);
        let call = async {
            let instance = wctx(syncer.pre.instantiate_async(&mut store).await, || {
                format!("plugin {name}: cannot instantiate")
            })?;
            instance
                .ramsync_connector_syncer()
                .call_resource_type(&mut store)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("plugin {name}: resource-type failed: {}", trap_message(&e))
                })
        };
        syncer.info = tokio::time::timeout(limits.call_timeout, call)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "plugin {name}: resource-type did not answer within {:?}",
                    limits.call_timeout
                )
            })??
            .into();
        anyhow::ensure!(
            !syncer.info.id.is_empty(),
            "plugin {name}: resource-type returned an empty id"
        );
        Ok(syncer)
    }

    /// What one call may do: its policy, credential, ledger and activity.
    fn call_state(
        &self,
        ctx: &CallContext,
        auth: Option<(Arc<Signer>, Credential)>,
        kind: CallKind,
    ) -> (CallState, Arc<HttpActivity>) {
        let activity = Arc::new(HttpActivity::new(ctx.actions.is_some()));
        let ledger = Arc::new(Ledger::default());
        let call = CallState {
            policy: HttpPolicy::new(
                ctx.endpoints.clone(),
                self.products.clone(),
                ctx.rates.clone(),
                activity.clone(),
                ledger.clone(),
                auth.as_ref().map(|(_, c)| c),
            ),
            endpoints: ctx.endpoints.clone(),
            granted: self.products.clone(),
            auth,
            kind,
            actions: self.actions.clone(),
            ledger,
            activity: activity.clone(),
        };
        (call, activity)
    }

    /// A fresh store for `call`, held to the sandbox's limits.
    fn new_store(&self, limits: &Limits, call: CallState) -> Store<SyncerState> {
        let state = SyncerState {
            wasi: bare_wasi(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            meter: CpuMeter::new(limits.cpu_deadline),
            memory: MemoryLimiter::new(limits.memory_bytes, self.runtime.memory.clone()),
            call,
        };
        let mut store = Store::new(self.pre.engine(), state);
        crate::sandbox::limit(&mut store);
        store
    }

    /// Runs one call, in this account's kept instance of the plugin or a fresh one, and
    /// classifies how it ended. A dry run gets no
    /// credential, so nothing can be signed.
    async fn run<T, F>(&self, ctx: &CallContext, kind: CallKind, call: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(
                &'a bindings::syncer::SyncerPlugin,
                &'a mut Store<SyncerState>,
            ) -> PluginCall<'a, T>
            + Send
            + 'static,
    {
        let auth = match &ctx.auth {
            Some(_) if !kind.signs() => None,
            None => None,
            Some(a) => {
                let credential = a
                    .source
                    .current(a.signer.as_ref(), &ctx.endpoints)
                    .await
                    .map_err(|e| CallError::Credentials(format!("{e:#}")))?;
                Some((a.signer.clone(), credential))
            }
        };
        // Syncing reuses this account's instance of the plugin; provisioning never does.
        let warm = match kind {
            CallKind::Sync => ctx.warm.lock().get_mut(&self.name).and_then(Vec::pop),
            _ => None,
        };
        let (mut store, instance, slot, activity) = match warm {
            Some(warm) => {
                let mut store = warm.store;
                let (call, activity) = self.call_state(ctx, auth, kind);
                store.data_mut().call = call;
                crate::sandbox::rearm(&mut store);
                (store, Some(warm.instance), warm._slot, activity)
            }
            None => {
                let slot = match self.runtime.try_slot(false) {
                    Some(slot) => slot,
                    None => {
                        ctx.warm.evict_others(&self.name, usize::MAX);
                        self.runtime.slot(false).await
                    }
                };
                let (call, activity) = self.call_state(ctx, auth, kind);
                let store = self.new_store(&ctx.limits, call);
                (store, None, slot, activity)
            }
        };
        // The call runs as a task of its own, so that the calls in flight of one sync run
        // on every worker thread rather than all on the thread that polls the sync.
        let (limits, pre, task_activity) = (ctx.limits, self.pre.clone(), activity.clone());
        let mut task = AbortOnDrop(tokio::spawn(async move {
            let outcome = within_call_timeout(&limits, &task_activity, async {
                let instance = match instance {
                    Some(instance) => instance,
                    None => pre.instantiate_async(&mut store).await?,
                };
                let answer = call(&instance, &mut store).await?;
                wasmtime::Result::Ok((instance, answer))
            })
            .await;
            (store, outcome)
        }));
        let (mut store, outcome) = match (&mut task.0).await {
            Ok(ended) => ended,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(CallError::Trap("the plugin call was cancelled".into())),
        };
        let refused = !activity.denied.lock().unwrap().is_empty();
        let outcome = match outcome {
            Ok(Ok((instance, answer))) => {
                if kind == CallKind::Sync
                    && !refused
                    && store.data_mut().memory.may_be_kept()
                    && let Some(kept) = self.runtime.keep_warm().or_else(|| {
                        ctx.warm
                            .evict_others(&self.name, 1)
                            .then(|| self.runtime.keep_warm())
                            .flatten()
                    })
                {
                    ctx.warm
                        .lock()
                        .entry(self.name.clone())
                        .or_default()
                        .push(WarmSyncer {
                            store,
                            instance,
                            _slot: slot,
                            _kept: kept,
                        });
                }
                Ok(Ok(answer))
            }
            Ok(Err(trap)) => Ok(Err(trap)),
            Err(timeout) => Err(timeout),
        };
        ctx.http_calls
            .fetch_add(activity.calls.load(Ordering::Relaxed), Ordering::Relaxed);
        if let (Some(log), Some(actions)) = (&ctx.actions, &activity.actions) {
            log.lock()
                .unwrap()
                .extend(actions.lock().unwrap().drain(..));
        }
        match activity.denied.lock().unwrap().first().cloned() {
            Some(Refusal::Host(host)) => {
                return Err(CallError::Denied { host });
            }
            Some(Refusal::Product { product, host }) => {
                return Err(CallError::NotGranted {
                    product,
                    host,
                    granted: self.products.to_vec(),
                });
            }
            Some(refusal @ (Refusal::Action { .. } | Refusal::Unsigned(_))) => {
                return Err(CallError::Refused(refusal.to_string()));
            }
            None => {}
        }
        match outcome {
            Err(_) => Err(CallError::Timeout(ctx.limits.call_timeout)),
            Ok(Err(trap)) => Err(CallError::Trap(trap_message(&trap))),
            Ok(Ok(Err(e))) => Err(CallError::Plugin(e.into())),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }

    /// One page of its resources, under `parent` for a nested type.
    pub async fn list_resources(
        &self,
        ctx: &CallContext,
        parent: Option<&Resource>,
        token: Option<&str>,
    ) -> Result<ResourcePage, CallError> {
        let parent = parent.map(wit::Resource::from);
        let token = token.map(str::to_owned);
        self.run(ctx, CallKind::Sync, move |i, s| {
            Box::pin(async move {
                i.ramsync_connector_syncer()
                    .call_list_resources(s, parent.as_ref(), token.as_deref())
                    .await
            })
        })
        .await
        .map(Into::into)
    }

    /// One page of a resource's entitlements.
    pub async fn entitlements(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> Result<EntitlementPage, CallError> {
        let resource = wit::Resource::from(resource);
        let token = token.map(str::to_owned);
        self.run(ctx, CallKind::Sync, move |i, s| {
            Box::pin(async move {
                i.ramsync_connector_syncer()
                    .call_entitlements(s, &resource, token.as_deref())
                    .await
            })
        })
        .await
        .map(Into::into)
    }

    /// One page of a resource's grants.
    pub async fn grants(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> Result<GrantPage, CallError> {
        let resource = wit::Resource::from(resource);
        let token = token.map(str::to_owned);
        self.run(ctx, CallKind::Sync, move |i, s| {
            Box::pin(async move {
                i.ramsync_connector_syncer()
                    .call_grants(s, &resource, token.as_deref())
                    .await
            })
        })
        .await
        .map(Into::into)
    }

    /// Grants (or with `revoke`, revokes) `entitlement` of `resource` to `principal`.
    pub async fn provision(
        &self,
        ctx: &CallContext,
        revoke: bool,
        resource: &Resource,
        entitlement: &str,
        principal: &Resource,
        dry_run: bool,
    ) -> Result<Change, CallError> {
        if !self.provisions {
            return Err(CallError::Plugin(PluginError::InvalidInput(format!(
                "plugin {} is not granted provisioning by its manifest",
                self.name
            ))));
        }
        let (resource, principal) = (
            wit::Resource::from(resource),
            wit::Resource::from(principal),
        );
        // A dry run gets no credentials: it only says what it would call.
        let kind = if dry_run {
            CallKind::DryRun
        } else {
            CallKind::Provision
        };
        let entitlement = entitlement.to_owned();
        self.run(ctx, kind, move |i, s| {
            Box::pin(async move {
                let p = i.ramsync_connector_provisioner();
                if revoke {
                    p.call_revoke(s, &resource, &entitlement, &principal, dry_run)
                        .await
                } else {
                    p.call_grant(s, &resource, &entitlement, &principal, dry_run)
                        .await
                }
            })
        })
        .await
        .map(Into::into)
    }
}

/// One call into a syncer instance, borrowing its instance and store.
type PluginCall<'a, T> =
    std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<Result<T, wit::Error>>> + Send + 'a>>;

/// A spawned plugin call that ends when the sync that waits for it is dropped (a stop or a
/// failed sibling), as the call did when it ran inside the sync's own future.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `call` within the wall-clock call timeout, extended by the time its requests spent
/// waiting for the account's rate limit: that wait is the host's pacing, not the plugin's.
async fn within_call_timeout<F: Future>(
    limits: &Limits,
    activity: &HttpActivity,
    call: F,
) -> Result<F::Output, ()> {
    let started = tokio::time::Instant::now();
    let mut call = std::pin::pin!(call);
    loop {
        let paced = activity.rate_waited();
        let deadline = started + limits.call_timeout + paced;
        match tokio::time::timeout_at(deadline, &mut call).await {
            Ok(v) => return Ok(v),
            Err(_) if activity.rate_waited() > paced || activity.pacing_now() => continue,
            Err(_) => return Err(()),
        }
    }
}
