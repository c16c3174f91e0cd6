//! The signer plugin: it gets WASI clocks and randomness, no HTTP, and a credential per call.

use crate::bindings;
use crate::bindings::signer::exports::ramsync::connector::signer::Credential as WitCredential;
use crate::bindings::signer::ramsync::connector::types as wit;
use crate::component::{check_wit_version, compile, wctx};
use crate::runtime::Runtime;
use crate::sandbox::{CpuMeter, MemoryLimiter, Metered};
use crate::sandbox::{Limits, bare_wasi, trap_message};
use anyhow::Result;
use ramsync_credentials::Credential;
use ramsync_model::{HttpRequest, PluginError, Signature};
use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store state of a signer call: WASI clocks and randomness, nothing else reachable.
pub struct SignerState {
    wasi: WasiCtx,
    table: ResourceTable,
    meter: CpuMeter,
    memory: MemoryLimiter,
}

impl Metered for SignerState {
    fn meter(&mut self) -> &mut CpuMeter {
        &mut self.meter
    }
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.memory
    }
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
    runtime: Runtime,
    limits: Limits,
}

impl Signer {
    /// Compiles and pre-instantiates a signer. It gets WASI but no HTTP.
    pub fn load(runtime: &Runtime, name: &str, wasm: &[u8], limits: Limits) -> Result<Self> {
        let engine = &runtime.engine;
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
        Ok(Signer {
            pre,
            runtime: runtime.clone(),
            limits,
        })
    }

    /// Signs `request` with `credential`. The outer error is a plugin failure (trap, timeout);
    /// the inner one is the plugin's own typed error.
    pub async fn sign(
        &self,
        request: &HttpRequest,
        credential: &Credential,
    ) -> Result<Result<Signature, PluginError>> {
        let _slot = self.runtime.slot(true).await;
        let mut store = Store::new(
            self.pre.engine(),
            SignerState {
                wasi: bare_wasi(),
                table: ResourceTable::new(),
                meter: CpuMeter::new(self.limits.cpu_deadline),
                memory: MemoryLimiter::new(self.limits.memory_bytes, self.runtime.memory.clone()),
            },
        );
        crate::sandbox::limit(&mut store);
        let wit_credential = WitCredential {
            access_key_id: credential.access_key_id.clone(),
            access_key_secret: credential.access_key_secret().expose().to_string(),
            security_token: credential.security_token().map(|t| t.expose().to_string()),
        };
        let request = wit::HttpRequest::from(request);
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .ramsync_connector_signer()
                .call_sign(&mut store, &request, &wit_credential)
                .await
        };
        match tokio::time::timeout(self.limits.call_timeout, call).await {
            Ok(result) => result
                .map(|signed| signed.map(Into::into).map_err(Into::into))
                .map_err(|e| anyhow::anyhow!("signer plugin failed: {}", trap_message(&e))),
            Err(_) => anyhow::bail!(
                "signer plugin did not answer within {:?}",
                self.limits.call_timeout
            ),
        }
    }
}

impl ramsync_credentials::sts::StsHost for Signer {
    fn sign<'a>(
        &'a self,
        request: &'a HttpRequest,
        credential: &'a Credential,
    ) -> ramsync_credentials::sts::BoxFuture<'a, Result<Result<Signature, PluginError>>> {
        Box::pin(Signer::sign(self, request, credential))
    }

    fn post<'a>(
        &'a self,
        url: String,
        headers: Vec<(String, String)>,
    ) -> ramsync_credentials::sts::BoxFuture<'a, Result<ramsync_credentials::sts::HttpAnswer>> {
        Box::pin(crate::http_policy::host_post(url, headers))
    }
}
