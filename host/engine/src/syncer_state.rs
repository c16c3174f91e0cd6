//! The host side of a syncer call: the store state a syncer instance runs with, and the
//! imports it is given (`auth` to have requests signed, `endpoints` for base URLs, WASI
//! and wasi:http through the HTTP policy).

use crate::action_policy::{ActionPolicy, CallKind, Ledger, SignedRequest};
use crate::bindings;
use crate::bindings::signer::ramsync::connector::types as wit;
use crate::http_policy::{Endpoints, HttpActivity, HttpPolicy, Refusal};
use crate::sandbox::{CpuMeter, MemoryLimiter, Metered};
use crate::signer::Signer;
use anyhow::Result;
use ramsync_credentials::Credential;
use ramsync_model::{HttpRequest, PluginError};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store state of a syncer instance: what it keeps between calls (WASI, its table, its
/// memory and CPU meter), and what belongs to the call it is serving.
pub struct SyncerState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) meter: CpuMeter,
    pub(crate) memory: MemoryLimiter,
    /// Replaced whole for each call of a kept instance.
    pub(crate) call: CallState,
}

/// What one call may do: its HTTP policy, credential, signing ledger and activity.
pub(crate) struct CallState {
    pub(crate) policy: HttpPolicy,
    pub(crate) endpoints: Arc<Endpoints>,
    pub(crate) granted: Arc<[String]>,
    /// The signer and this call's credential, fetched (and refreshed) before the call.
    pub(crate) auth: Option<(Arc<Signer>, Credential)>,
    /// What this call may have signed, and the signatures made for it.
    pub(crate) kind: CallKind,
    pub(crate) actions: Arc<ActionPolicy>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) activity: Arc<HttpActivity>,
}

impl Metered for SyncerState {
    fn meter(&mut self) -> &mut CpuMeter {
        &mut self.meter
    }
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.memory
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl SyncerState {
    /// Whether the host may sign `request` for this call: an action of a granted product,
    /// at that product's endpoint, allowed for this kind of call.
    fn may_sign(&self, request: &HttpRequest) -> Result<(), Refusal> {
        let action = header(&request.headers, "x-acs-action").unwrap_or_default();
        let version = header(&request.headers, "x-acs-version").unwrap_or_default();
        let refused = |why: String| Refusal::Action {
            action: action.to_string(),
            why,
        };
        if action.is_empty() || version.is_empty() {
            return Err(refused(
                "a request to sign must name its x-acs-action and x-acs-version".into(),
            ));
        }
        let Some(product) = crate::http_policy::product_of_version(version) else {
            return Err(refused(format!(
                "API version {version:?} is not one ramsync knows"
            )));
        };
        if !self.call.granted.iter().any(|g| g == product) {
            return Err(Refusal::Product {
                product: product.to_string(),
                host: request.host.clone(),
            });
        }
        let expected = self.call.endpoints.authority(product).unwrap_or_default();
        if !request.host.eq_ignore_ascii_case(&expected) {
            return Err(Refusal::Host(format!(
                "{} (asked to sign for it; the {product} endpoint is {expected})",
                request.host
            )));
        }
        let header_host = header(&request.headers, "host").unwrap_or(&request.host);
        if !header_host.eq_ignore_ascii_case(&expected) {
            return Err(Refusal::Host(format!(
                "{header_host} (in the signed host header)"
            )));
        }
        self.call
            .actions
            .check(self.call.kind, product, action)
            .map_err(|why| Refusal::Action {
                action: format!("{product}:{action}"),
                why,
            })
    }
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
            hooks: &mut self.call.policy,
        }
    }
}

impl bindings::signer::ramsync::connector::types::Host for SyncerState {}

impl bindings::syncer::ramsync::connector::auth::Host for SyncerState {
    async fn sign(
        &mut self,
        request: wit::HttpRequest,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, wit::Error>> {
        let request = HttpRequest::from(request);
        Ok(self.sign_for_plugin(request).await?.map_err(Into::into))
    }
}

impl SyncerState {
    /// Signs `request` for the plugin, if this call may have it signed, and records the
    /// signature in the ledger the HTTP hook checks.
    async fn sign_for_plugin(
        &mut self,
        request: HttpRequest,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, PluginError>> {
        let Some((signer, credential)) = self.call.auth.clone() else {
            return Ok(Err(PluginError::InvalidInput(
                "no credential is configured for this call".into(),
            )));
        };
        let refused = if self.call.ledger.unsent() >= crate::action_policy::MAX_UNSENT_SIGNATURES {
            Err(Refusal::Unsigned(format!(
                "it asked for more than {} signatures without sending the requests",
                crate::action_policy::MAX_UNSENT_SIGNATURES
            )))
        } else {
            self.may_sign(&request)
        };
        if let Err(refusal) = refused {
            let message = refusal.to_string();
            self.call.activity.refuse(refusal);
            return Ok(Err(PluginError::InvalidInput(format!(
                "the host refused to sign: {message}"
            ))));
        }
        let signed = signer
            .sign(&request, &credential)
            .await
            .map_err(wasmtime::Error::from_anyhow)?;
        let signature = match signed {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        // The token is added to the wire by the HTTP policy, so the syncer never holds it.
        let headers: Vec<(String, String)> = signature
            .headers
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("x-acs-security-token"))
            .collect();
        if let Some(authorization) = header(&headers, "authorization") {
            let must_match = request
                .headers
                .iter()
                .chain(&headers)
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("authorization")
                })
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .chain([("authorization".to_string(), authorization.to_string())])
                .collect();
            let content_sha256 = header(&headers, "x-acs-content-sha256")
                .map(str::to_string)
                .unwrap_or_else(|| crate::manifest::sha256_hex(&request.body));
            self.call.ledger.record(
                authorization.to_string(),
                SignedRequest {
                    method: request.method.clone(),
                    authority: request.host.clone(),
                    path: request.path.clone(),
                    query: ramsync_acs3::canonical_query(&request.query),
                    headers: must_match,
                    content_sha256,
                },
            );
        }
        Ok(Ok(headers))
    }
}

impl bindings::syncer::ramsync::connector::endpoints::Host for SyncerState {
    async fn base_url(&mut self, product: String) -> wasmtime::Result<Option<String>> {
        // A product the plugin is not granted has no endpoint, as far as it can tell.
        if !self.call.granted.contains(&product) {
            return Ok(None);
        }
        Ok(self.call.endpoints.base_url(&product))
    }
}
