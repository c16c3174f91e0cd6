//! The wasmtime engine and plugin loading. Components are compiled once per run and
//! instantiated through pre-instantiation, with a fresh store per call. Each store has a
//! memory cap and an epoch deadline; each call also has a host-side timeout.

use crate::credentials::Credential;
use crate::http_policy::{Endpoints, HttpActivity, HttpPolicy, RateLimits};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Host bindings generated from the WIT contract.
pub mod bindings {
    pub mod signer {
        wasmtime::component::bindgen!({
            world: "signer-plugin",
            path: "../wit",
            exports: { default: async },
        });
    }
    pub mod syncer {
        wasmtime::component::bindgen!({
            world: "syncer-plugin",
            path: "../wit",
            imports: { default: async | trappable },
            exports: { default: async },
            with: { "ramsync:connector/types": super::signer::ramsync::connector::types },
        });
    }
}

pub use bindings::signer::exports::ramsync::connector::signer::{
    Credential as WitCredential, Signature,
};
pub use bindings::signer::ramsync::connector::types::{
    ApiError, Entitlement, EntitlementPage, Error as PluginError, Grant, GrantPage, HttpRequest,
    Resource, ResourcePage, ResourceRef, TypeInfo,
};
pub use bindings::syncer::exports::ramsync::connector::provisioner::Change;

/// How often the epoch advances; plugin deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource limits for every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory a store may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one call may take, HTTP included.
    pub call_timeout: Duration,
    /// Time a call may spend running wasm code; enforced by epoch interruption.
    pub cpu_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            call_timeout: Duration::from_secs(120),
            cpu_deadline: Duration::from_secs(30),
        }
    }
}

/// A wasmtime engine with epoch interruption, and a thread that advances the epoch.
pub fn new_engine() -> Result<wasmtime::Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ramsync-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    Ok(engine)
}

/// Adds context to a wasmtime error while turning it into an `anyhow::Error`.
fn wctx<T>(result: wasmtime::Result<T>, context: impl FnOnce() -> String) -> Result<T> {
    result.map_err(|e| anyhow::Error::from(e).context(context()))
}

fn compile(engine: &wasmtime::Engine, name: &str, wasm: &[u8]) -> Result<Component> {
    let cache = crate::component_cache::default_dir();
    let (component, cached) = wctx(
        crate::component_cache::load_or_compile(engine, wasm, cache.as_deref()),
        || format!("plugin {name}: not a valid component"),
    )?;
    tracing::debug!(plugin = name, cached, "plugin loaded");
    Ok(component)
}

fn limited<T>(store: &mut Store<T>, limits: &Limits) {
    store.set_epoch_deadline(
        (limits.cpu_deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64,
    );
    store.epoch_deadline_trap();
}

fn store_limits(limits: &Limits) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .instances(16)
        .tables(64)
        .memories(16)
        .build()
}

/// A sandbox with no filesystem, environment, arguments, stdio or sockets.
fn bare_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// Store state of a signer call: WASI clocks and randomness, nothing else reachable.
pub struct SignerState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for SignerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A loaded signer plugin.
pub struct Signer {
    pre: bindings::signer::SignerPluginPre<SignerState>,
    limits: Limits,
}

impl Signer {
    /// Compiles and pre-instantiates a signer. It gets WASI but no HTTP.
    pub fn load(
        engine: &wasmtime::Engine,
        name: &str,
        wasm: &[u8],
        limits: Limits,
    ) -> Result<Self> {
        let component = compile(engine, name, wasm)?;
        check_wit_version(engine, name, &component)?;
        let mut linker = Linker::<SignerState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let pre = wctx(linker.instantiate_pre(&component), || {
            format!("plugin {name}: cannot link: it imports what the host does not grant a signer")
        })?;
        let pre = wctx(bindings::signer::SignerPluginPre::new(pre), || {
            format!("plugin {name}: does not export the signer interface")
        })?;
        Ok(Signer { pre, limits })
    }

    /// Signs `request` with `credential`. The outer error is a plugin failure (trap, timeout);
    /// the inner one is the plugin's own typed error.
    pub async fn sign(
        &self,
        request: &HttpRequest,
        credential: &Credential,
    ) -> Result<Result<Signature, PluginError>> {
        let mut store = Store::new(
            self.pre.engine(),
            SignerState {
                wasi: bare_wasi(),
                table: ResourceTable::new(),
                limits: store_limits(&self.limits),
            },
        );
        store.limiter(|s| &mut s.limits);
        limited(&mut store, &self.limits);
        let wit_credential = WitCredential {
            access_key_id: credential.access_key_id.clone(),
            access_key_secret: credential.access_key_secret().expose().to_string(),
            security_token: credential.security_token().map(|t| t.expose().to_string()),
        };
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .ramsync_connector_signer()
                .call_sign(&mut store, request, &wit_credential)
                .await
        };
        match tokio::time::timeout(self.limits.call_timeout, call).await {
            Ok(result) => {
                result.map_err(|e| anyhow::anyhow!("signer plugin failed: {}", trap_message(&e)))
            }
            Err(_) => anyhow::bail!(
                "signer plugin did not answer within {:?}",
                self.limits.call_timeout
            ),
        }
    }
}

/// Signs on behalf of a syncer with one account's credentials.
pub struct Auth {
    pub signer: Arc<Signer>,
    pub source: crate::sts::CredentialSource,
}

impl Auth {
    /// A fixed AccessKey or STS credential.
    pub fn fixed(signer: Arc<Signer>, credential: Credential) -> Self {
        Auth {
            signer,
            source: crate::sts::CredentialSource::Fixed(credential),
        }
    }
}

/// Everything a syncer call needs from the host, shared by all calls of one sync.
#[derive(Clone)]
pub struct CallContext {
    pub endpoints: Arc<Endpoints>,
    pub auth: Option<Arc<Auth>>,
    pub limits: Limits,
    /// This account's request rates, per product.
    pub rates: Arc<RateLimits>,
    /// API calls made by plugins through this context.
    pub http_calls: Arc<AtomicU64>,
    /// When set, the `product:Action` of every call is recorded here (`run-plugin`).
    pub actions: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl CallContext {
    /// A context without a rate limit.
    pub fn new(endpoints: Endpoints, auth: Option<Arc<Auth>>, limits: Limits) -> Self {
        Self::with_rates(endpoints, auth, limits, RateLimits::unlimited())
    }

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
        }
    }
}

/// Store state of a syncer call.
pub struct SyncerState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    policy: HttpPolicy,
    limits: StoreLimits,
    endpoints: Arc<Endpoints>,
    granted: Arc<[String]>,
    /// The signer and this call's credential, fetched (and refreshed) before the call.
    auth: Option<(Arc<Signer>, Credential)>,
}

impl WasiView for SyncerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for SyncerState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.policy,
        }
    }
}

impl bindings::signer::ramsync::connector::types::Host for SyncerState {}

impl bindings::syncer::ramsync::connector::auth::Host for SyncerState {
    async fn sign(
        &mut self,
        request: HttpRequest,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, PluginError>> {
        let Some((signer, credential)) = self.auth.clone() else {
            return Ok(Err(PluginError::InvalidInput(
                "no credential is configured for this call".into(),
            )));
        };
        let signed = signer
            .sign(&request, &credential)
            .await
            .map_err(wasmtime::Error::from_anyhow)?;
        Ok(signed.map(|signature| {
            // The token is added to the wire by the HTTP policy, so the syncer never holds it.
            signature
                .headers
                .into_iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("x-acs-security-token"))
                .collect()
        }))
    }
}

impl bindings::syncer::ramsync::connector::endpoints::Host for SyncerState {
    async fn base_url(&mut self, product: String) -> wasmtime::Result<Option<String>> {
        // A product the plugin is not granted has no endpoint, as far as it can tell.
        if !self.granted.contains(&product) {
            return Ok(None);
        }
        Ok(self.endpoints.base_url(&product))
    }
}

/// Why a syncer call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The plugin returned a typed error, usually from the API.
    Plugin(PluginError),
    /// The plugin tried to reach a host outside the allowlist.
    Denied { host: String },
    /// The plugin tried to call a product its manifest does not grant it.
    NotGranted {
        product: String,
        host: String,
        granted: Vec<String>,
    },
    /// The plugin trapped, ran past its CPU deadline or hit its memory cap.
    Trap(String),
    /// The call took longer than the wall-clock limit.
    Timeout(Duration),
    /// The credentials could not be obtained, for example AssumeRole was refused.
    Credentials(String),
}

/// A loaded syncer plugin.
pub struct Syncer {
    pub name: String,
    pub info: TypeInfo,
    /// What its manifest grants: the products it may call, and whether it may provision.
    pub products: Arc<[String]>,
    pub provisions: bool,
    /// The WIT version it was built against, read from its exports.
    pub wit_version: String,
    pre: bindings::syncer::SyncerPluginPre<SyncerState>,
}

impl Syncer {
    /// Compiles and pre-instantiates a syncer, and asks it for its resource type.
    pub async fn load(
        engine: &wasmtime::Engine,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        capabilities: &crate::manifest::Capabilities,
    ) -> Result<Self> {
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
            wit_version,
            pre,
        };
        let ctx = CallContext::new(Endpoints::default(), None, limits);
        let (mut store, _) = syncer.new_store(&ctx, None);
        let instance = wctx(syncer.pre.instantiate_async(&mut store).await, || {
            format!("plugin {name}: cannot instantiate")
        })?;
        syncer.info = instance
            .ramsync_connector_syncer()
            .call_resource_type(&mut store)
            .await
            .map_err(|e| {
                anyhow::anyhow!("plugin {name}: resource-type failed: {}", trap_message(&e))
            })?;
        anyhow::ensure!(
            !syncer.info.id.is_empty(),
            "plugin {name}: resource-type returned an empty id"
        );
        Ok(syncer)
    }

    fn new_store(
        &self,
        ctx: &CallContext,
        auth: Option<(Arc<Signer>, Credential)>,
    ) -> (Store<SyncerState>, Arc<HttpActivity>) {
        let activity = Arc::new(HttpActivity {
            actions: ctx.actions.as_ref().map(|_| Default::default()),
            ..Default::default()
        });
        let token = auth.as_ref().and_then(|(_, c)| c.security_token().cloned());
        let state = SyncerState {
            wasi: bare_wasi(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            policy: HttpPolicy::new(
                ctx.endpoints.clone(),
                self.products.clone(),
                ctx.rates.clone(),
                token,
                activity.clone(),
            ),
            limits: store_limits(&ctx.limits),
            endpoints: ctx.endpoints.clone(),
            granted: self.products.clone(),
            auth,
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        limited(&mut store, &ctx.limits);
        (store, activity)
    }

    /// Runs one call in a fresh instance and classifies how it ended.
    async fn run<T, F>(&self, ctx: &CallContext, call: F) -> Result<T, CallError>
    where
        F: AsyncFnOnce(
            &bindings::syncer::SyncerPlugin,
            &mut Store<SyncerState>,
        ) -> wasmtime::Result<Result<T, PluginError>>,
    {
        let auth = match &ctx.auth {
            None => None,
            Some(a) => {
                let credential = a
                    .source
                    .current(&a.signer, &ctx.endpoints)
                    .await
                    .map_err(|e| CallError::Credentials(format!("{e:#}")))?;
                Some((a.signer.clone(), credential))
            }
        };
        let (mut store, activity) = self.new_store(ctx, auth);
        let outcome = tokio::time::timeout(ctx.limits.call_timeout, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            call(&instance, &mut store).await
        })
        .await;
        ctx.http_calls
            .fetch_add(activity.calls.load(Ordering::Relaxed), Ordering::Relaxed);
        if let (Some(log), Some(actions)) = (&ctx.actions, &activity.actions) {
            log.lock()
                .unwrap()
                .extend(actions.lock().unwrap().drain(..));
        }
        match activity.denied.lock().unwrap().first().cloned() {
            Some(crate::http_policy::Refusal::Host(host)) => {
                return Err(CallError::Denied { host });
            }
            Some(crate::http_policy::Refusal::Product { product, host }) => {
                return Err(CallError::NotGranted {
                    product,
                    host,
                    granted: self.products.to_vec(),
                });
            }
            None => {}
        }
        match outcome {
            Err(_) => Err(CallError::Timeout(ctx.limits.call_timeout)),
            Ok(Err(trap)) => Err(CallError::Trap(trap_message(&trap))),
            Ok(Ok(Err(e))) => Err(CallError::Plugin(e)),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }

    pub async fn list_resources(
        &self,
        ctx: &CallContext,
        parent: Option<&Resource>,
        token: Option<&str>,
    ) -> Result<ResourcePage, CallError> {
        self.run(ctx, async |i, s| {
            i.ramsync_connector_syncer()
                .call_list_resources(s, parent, token)
                .await
        })
        .await
    }

    pub async fn entitlements(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> Result<EntitlementPage, CallError> {
        self.run(ctx, async |i, s| {
            i.ramsync_connector_syncer()
                .call_entitlements(s, resource, token)
                .await
        })
        .await
    }

    pub async fn grants(
        &self,
        ctx: &CallContext,
        resource: &Resource,
        token: Option<&str>,
    ) -> Result<GrantPage, CallError> {
        self.run(ctx, async |i, s| {
            i.ramsync_connector_syncer()
                .call_grants(s, resource, token)
                .await
        })
        .await
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
        self.run(ctx, async |i, s| {
            let p = i.ramsync_connector_provisioner();
            if revoke {
                p.call_revoke(s, resource, entitlement, principal, dry_run)
                    .await
            } else {
                p.call_grant(s, resource, entitlement, principal, dry_run)
                    .await
            }
        })
        .await
    }
}

/// A one-line description of a trap, without the wasm backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => "ran past its CPU deadline".into(),
            other => format!("trapped: {other}"),
        };
    }
    let root = e.root_cause().to_string();
    if root.contains("memory") && (root.contains("limit") || root.contains("grow")) {
        return format!("hit its memory cap: {root}");
    }
    format!("failed: {e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The signer and syncers of one run, compiled once.
pub struct Plugins {
    pub engine: wasmtime::Engine,
    pub signer: Arc<Signer>,
    pub syncers: Vec<Arc<Syncer>>,
    pub limits: Limits,
}

impl Plugins {
    /// Loads the plugins embedded in the binary.
    pub async fn builtin(limits: Limits) -> Result<Self> {
        Self::load(None, limits).await
    }

    /// Loads the built-in plugins, or with `dir` the verified plugins of that directory
    /// (see [`crate::manifest`]), in manifest order.
    pub async fn load(dir: Option<&std::path::Path>, limits: Limits) -> Result<Self> {
        let set = crate::manifest::load_set(dir)?;
        let origin = |file: &str| match dir {
            Some(d) => d.join(file).display().to_string(),
            None => format!("built-in {file}"),
        };
        let engine = new_engine()?;
        let mut signers = set
            .iter()
            .filter(|p| p.entry.kind == crate::manifest::Kind::Signer);
        let (Some(signer), None) = (signers.next(), signers.next()) else {
            anyhow::bail!(
                "{}: a plugin set needs exactly one signer",
                dir.map(|d| d.display().to_string())
                    .unwrap_or_else(|| "the built-in plugins".into())
            );
        };
        let signer = Arc::new(
            Signer::load(&engine, &signer.entry.name, &signer.wasm, limits)
                .with_context(|| format!("{}: refused", origin(&signer.entry.file)))?,
        );
        let mut syncers = Vec::new();
        for p in set
            .iter()
            .filter(|p| p.entry.kind == crate::manifest::Kind::Syncer)
        {
            let syncer = Syncer::load(
                &engine,
                &p.entry.name,
                &p.wasm,
                limits,
                &p.entry.capabilities,
            )
            .await
            .with_context(|| format!("{}: refused", origin(&p.entry.file)))?;
            anyhow::ensure!(
                p.entry.resource_types.contains(&syncer.info.id),
                "{}: refused: it syncs {:?}, but its manifest entry declares {:?}",
                origin(&p.entry.file),
                syncer.info.id,
                p.entry.resource_types
            );
            syncers.push(Arc::new(syncer));
        }
        check_order(&syncers)?;
        Ok(Plugins {
            engine,
            signer,
            syncers,
            limits,
        })
    }
}

/// The WIT version a component was built against, from the names of its exports.
pub fn component_wit_version(engine: &wasmtime::Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| {
            name.strip_prefix("ramsync:connector/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, version)| version.to_string())
        })
}

/// The component's WIT version, when this host accepts it.
fn check_wit_version(
    engine: &wasmtime::Engine,
    name: &str,
    component: &Component,
) -> Result<String> {
    match component_wit_version(engine, component) {
        Some(v) if crate::manifest::accepts(&v) => Ok(v),
        Some(v) => anyhow::bail!(
            "plugin {name}: built against WIT {v}; this host accepts {}",
            crate::manifest::accepted_list()
        ),
        None => anyhow::bail!("plugin {name}: exports no ramsync:connector interface"),
    }
}

/// Syncers run in order, so a nested type's parent and an enriched type must be listed
/// by an earlier syncer, and no two syncers may list the same type.
pub fn check_order(syncers: &[Arc<Syncer>]) -> Result<()> {
    let mut listed: Vec<&str> = Vec::new();
    for s in syncers {
        let id = s.info.id.as_str();
        if let Some(parent) = &s.info.parent_type {
            anyhow::ensure!(
                listed.contains(&parent.as_str()),
                "plugin {}: its type {id} is nested under {parent}, which no earlier plugin lists",
                s.name
            );
        }
        if s.info.enriches {
            anyhow::ensure!(
                listed.contains(&id),
                "plugin {} enriches type {id}, which no earlier plugin lists",
                s.name
            );
        } else {
            anyhow::ensure!(
                !listed.contains(&id),
                "plugin {} lists type {id}, which an earlier plugin lists already",
                s.name
            );
            listed.push(id);
        }
    }
    Ok(())
}
