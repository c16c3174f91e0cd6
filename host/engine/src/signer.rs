//! The signer plugin: it gets WASI clocks and randomness, no HTTP, and a credential per call;
//! an instance is kept for further signatures with the same credential only.

use crate::bindings;
use crate::bindings::signer::exports::ramsync::connector::signer::Credential as WitCredential;
use crate::bindings::signer::ramsync::connector::types as wit;
use crate::component::{check_wit_version, compile, wctx};
use crate::runtime::Runtime;
use crate::sandbox::{CpuMeter, MemoryLimiter, Metered};
use crate::sandbox::{Limits, SIGNER_SLOTS, bare_wasi, trap_message};
use anyhow::Result;
use ramsync_credentials::Credential;
use ramsync_model::{HttpRequest, PluginError, Signature};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::OwnedSemaphorePermit;
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

/// Signer instances kept for reuse, across every credential; each keeps its store's slot.
/// Fewer than the runtime's signer slots, so that fresh stores always find some.
const MAX_WARM_SIGNERS: usize = SIGNER_SLOTS / 2;

/// A signer instance kept between signatures, with its own store, memory cap and slot.
struct Warm {
    store: Store<SignerState>,
    instance: Option<bindings::signer::SignerPlugin>,
    _slot: OwnedSemaphorePermit,
}

/// A loaded signer plugin.
///
/// An instance is reused only for the credential it signed with before (its AccessKey id):
/// it saw that credential already, and no instance ever sees two credentials, so nothing
/// it keeps can join two accounts. Each call gets a fresh CPU budget and deadline; an
/// instance that traps or times out is dropped, never reused.
pub struct Signer {
    pre: bindings::signer::SignerPluginPre<SignerState>,
    runtime: Runtime,
    limits: Limits,
    warm: Mutex<HashMap<String, Vec<Warm>>>,
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
            warm: Mutex::default(),
        })
    }

    /// Signs `request` with `credential`. The outer error is a plugin failure (trap, timeout);
    /// the inner one is the plugin's own typed error.
    pub async fn sign(
        &self,
        request: &HttpRequest,
        credential: &Credential,
    ) -> Result<Result<Signature, PluginError>> {
        let key = credential.access_key_id.clone();
        let mut warm = match self.take_warm(&key) {
            Some(warm) => warm,
            None => self.fresh().await,
        };
        crate::sandbox::rearm(&mut warm.store);
        let wit_credential = WitCredential {
            access_key_id: credential.access_key_id.clone(),
            access_key_secret: credential.access_key_secret().expose().to_string(),
            security_token: credential.security_token().map(|t| t.expose().to_string()),
        };
        let request = wit::HttpRequest::from(request);
        let call = async {
            let instance = match warm.instance.take() {
                Some(instance) => instance,
                None => self.pre.instantiate_async(&mut warm.store).await?,
            };
            let signed = instance
                .ramsync_connector_signer()
                .call_sign(&mut warm.store, &request, &wit_credential)
                .await?;
            warm.instance = Some(instance);
            wasmtime::Result::Ok(signed)
        };
        match tokio::time::timeout(self.limits.call_timeout, call).await {
            Ok(Ok(signed)) => {
                self.keep_warm(key, warm);
                Ok(signed.map(Into::into).map_err(Into::into))
            }
            Ok(Err(e)) => anyhow::bail!("signer plugin failed: {}", trap_message(&e)),
            Err(_) => anyhow::bail!(
                "signer plugin did not answer within {:?}",
                self.limits.call_timeout
            ),
        }
    }

    /// A fresh store in a slot of its own, not yet instantiated.
    async fn fresh(&self) -> Warm {
        let slot = self.runtime.slot(true).await;
        let mut store = Store::new(
            self.pre.engine(),
            SignerState {
                wasi: bare_wasi(),
                table: ResourceTable::new(),
                meter: CpuMeter::new(self.limits.cpu_deadline),
                memory: MemoryLimiter::new(self.limits.memory_bytes, self.runtime.memory.clone()),
            },
        );
        crate::sandbox::limit_non_waiting(&mut store);
        Warm {
            store,
            instance: None,
            _slot: slot,
        }
    }

    fn warm(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Warm>>> {
        self.warm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle instance that signed with this AccessKey id before.
    fn take_warm(&self, key: &str) -> Option<Warm> {
        self.warm().get_mut(key)?.pop()
    }

    /// Keeps an instance that answered, unless it grew large, memory is short, or enough are
    /// kept already.
    fn keep_warm(&self, key: String, warm: Warm) {
        if !warm.store.data().memory.may_be_kept() {
            return;
        }
        let mut kept = self.warm();
        if kept.values().map(Vec::len).sum::<usize>() < MAX_WARM_SIGNERS {
            kept.entry(key).or_default().push(warm);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(nonce: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            host: "ims.aliyuncs.com".into(),
            path: "/".into(),
            query: vec![("MaxItems".into(), "1000".into())],
            headers: vec![
                ("host".into(), "ims.aliyuncs.com".into()),
                ("x-acs-action".into(), "ListUsers".into()),
                ("x-acs-version".into(), "2019-08-15".into()),
                ("x-acs-date".into(), "2026-12-03T08:00:00Z".into()),
                ("x-acs-signature-nonce".into(), nonce.into()),
                (
                    "x-acs-content-sha256".into(),
                    ramsync_acs3::EMPTY_BODY_SHA256.into(),
                ),
            ],
            body: Vec::new(),
        }
    }

    fn authorization(signature: &Signature) -> String {
        signature
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    fn native(request: &HttpRequest, id: &str, secret: &str) -> String {
        let input = ramsync_acs3::SigningInput {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &request.headers,
            hashed_payload: ramsync_acs3::EMPTY_BODY_SHA256,
        };
        ramsync_acs3::sign(&input, id, secret).authorization
    }

    #[tokio::test]
    async fn an_instance_is_reused_for_its_own_credential_only() {
        let runtime = crate::new_engine().unwrap();
        let signer = Signer::load(
            &runtime,
            "signer-acs3",
            crate::builtin::signer(),
            Limits::default(),
        )
        .unwrap();
        let a = Credential::new("LTAIaccountA", "secret-a", None);
        let b = Credential::new("LTAIaccountB", "secret-b", None);
        let warm = |key: &str| signer.warm().get(key).map_or(0, Vec::len);
        for (i, credential) in [&a, &a, &b, &a].into_iter().enumerate() {
            let request = request(&format!("nonce-{i}"));
            let signed = signer.sign(&request, credential).await.unwrap().unwrap();
            // A reused instance signs exactly as a fresh one (and as the native code) does.
            assert_eq!(
                authorization(&signed),
                native(
                    &request,
                    &credential.access_key_id,
                    credential.access_key_secret().expose()
                )
            );
        }
        // One instance per credential: A's was reused three times, B got one of its own.
        assert_eq!((warm("LTAIaccountA"), warm("LTAIaccountB")), (1, 1));
    }
}
