//! Which API actions the host signs for a plugin, and proof that what a plugin sends is
//! exactly what the host signed.
//!
//! While syncing (`resource-type`, `list-resources`, `entitlements`, `grants`) a syncer may
//! have read actions signed: `List*`, `Get*`, and the actions its manifest names in
//! `capabilities.actions`. Inside a provisioner call it may also have the write actions its
//! manifest names in `capabilities.provision_actions`. Actions that hand out secrets
//! (STS `AssumeRole*`, `CreateAccessKey`, ...) are never signed for a plugin: the host
//! assumes roles itself.
//!
//! Every signature the host makes is recorded in the store's [`Ledger`]; the HTTP hook
//! sends a request only when its `Authorization` is in the ledger and the method, authority,
//! path, query, signed headers and body digest are those that were signed. A plugin cannot
//! send a request signed with a key of its own, nor alter one the host signed.

use std::collections::HashMap;
use std::sync::Mutex;

/// What kind of plugin call a store serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Syncing: reads only.
    Sync,
    /// A provisioner's grant or revoke: reads, and the writes its manifest declares.
    Provision,
    /// A grant or revoke that only says what it would call: it gets no credential.
    DryRun,
}

impl CallKind {
    /// Whether the call gets the account's credential to sign with.
    pub fn signs(self) -> bool {
        self != CallKind::DryRun
    }
}

/// Actions never signed for a plugin, whatever its manifest says: they return credentials.
pub const NEVER_SIGNED: &[(&str, &str)] = &[
    ("sts", "AssumeRole"),
    ("sts", "AssumeRoleWithSAML"),
    ("sts", "AssumeRoleWithOIDC"),
    ("ram", "CreateAccessKey"),
    ("ims", "CreateAccessKey"),
    ("ims", "CreateAppSecret"),
];

/// Whether `action` reads by its name: `List…` or `Get…` followed by a capital letter.
pub fn is_read(action: &str) -> bool {
    ["List", "Get"].iter().any(|prefix| {
        action
            .strip_prefix(prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase())
    })
}

/// Checks a `product:Action` manifest entry; the error says what is wrong with it. An
/// action of a product the entry does not declare is never sent: the product is not granted.
pub fn check_entry(entry: &str) -> Result<(), String> {
    let Some((product, action)) = entry.split_once(':') else {
        return Err(format!(
            "action {entry:?} must be PRODUCT:Action, for example ram:ListUsers"
        ));
    };
    if !ramsync_model::PRODUCTS.iter().any(|(p, _)| *p == product) {
        return Err(format!(
            "action {entry:?} names unknown product {product:?}; expected ram, ims or sts"
        ));
    }
    if action.is_empty() || !action.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("action {entry:?} has an invalid action name"));
    }
    if NEVER_SIGNED.contains(&(product, action)) {
        return Err(format!(
            "action {entry:?} returns credentials and is never signed for a plugin"
        ));
    }
    Ok(())
}

/// The actions one plugin may have signed, from its manifest entry.
#[derive(Debug, Clone, Default)]
pub struct ActionPolicy {
    /// Extra read actions named in the manifest, `product:Action`.
    reads: Vec<String>,
    /// Write actions its provisioner may call, `product:Action`.
    writes: Vec<String>,
}

impl ActionPolicy {
    /// A policy from a manifest entry's read and write actions, `product:Action` each.
    pub fn new(reads: &[String], writes: &[String]) -> Self {
        ActionPolicy {
            reads: reads.to_vec(),
            writes: writes.to_vec(),
        }
    }

    /// Whether `product:action` may be signed during a call of `kind`; the error is the reason.
    pub fn check(&self, kind: CallKind, product: &str, action: &str) -> Result<(), String> {
        let named = |list: &[String]| {
            list.iter().any(|e| {
                e.split_once(':')
                    .is_some_and(|(p, a)| p == product && a == action)
            })
        };
        if NEVER_SIGNED.contains(&(product, action)) {
            return Err(format!(
                "{product}:{action} returns credentials and is never signed for a plugin"
            ));
        }
        if is_read(action) || named(&self.reads) {
            return Ok(());
        }
        match kind {
            CallKind::Provision if named(&self.writes) => Ok(()),
            CallKind::Provision => Err(format!(
                "{product}:{action} is not among the provision_actions of its manifest entry"
            )),
            CallKind::DryRun => Err(format!(
                "{product}:{action} is not a read action, and a dry run changes nothing"
            )),
            CallKind::Sync => Err(format!(
                "{product}:{action} is not a read action; while syncing a plugin may call only List*, Get* and the actions its manifest entry names"
            )),
        }
    }
}

/// One request as the host signed it.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The HTTP method, as signed.
    pub method: String,
    /// `host[:port]`, as signed.
    pub authority: String,
    /// The path, as signed.
    pub path: String,
    /// The canonical (encoded, sorted) query string that was signed.
    pub query: String,
    /// Every header the wire request must carry with exactly this value (lowercase names),
    /// `authorization` and `x-acs-content-sha256` among them.
    pub headers: Vec<(String, String)>,
    /// The hex SHA-256 of the body that was signed.
    pub content_sha256: String,
}

/// The signatures the host made for one store and that were not sent yet.
#[derive(Debug, Default)]
pub struct Ledger {
    by_authorization: Mutex<HashMap<String, SignedRequest>>,
}

/// Signatures a call may hold without sending them. A syncer signs a request and sends it
/// at once; the cap keeps a plugin that only asks for signatures from growing host memory
/// (signing runs in the host, outside the plugin's memory cap).
pub const MAX_UNSENT_SIGNATURES: usize = 64;

/// The largest request body a plugin may send: RPC requests carry their parameters in the query.
pub const MAX_REQUEST_BODY: usize = 1 << 20;

impl Ledger {
    /// Signatures made and not sent yet.
    pub fn unsent(&self) -> usize {
        self.by_authorization.lock().unwrap().len()
    }

    /// Records a signature the host made, until the request is sent.
    pub fn record(&self, authorization: String, request: SignedRequest) {
        self.by_authorization
            .lock()
            .unwrap()
            .insert(authorization, request);
    }

    /// Takes the signature of a request about to be sent, if the host made it and the
    /// request is the one that was signed (body aside: the caller checks its digest).
    /// Each signature is sent once.
    pub fn take_matching<B>(
        &self,
        request: &http::Request<B>,
        key_id: Option<&str>,
    ) -> Result<SignedRequest, String> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let Some(authorization) = header("authorization") else {
            return Err("the request carries no Authorization made by the host".into());
        };
        if let Some(key_id) = key_id {
            let credential = authorization
                .split("Credential=")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap_or_default();
            if credential != key_id {
                return Err("the request is signed with a key other than this account's".into());
            }
        }
        let Some(signed) = self.by_authorization.lock().unwrap().remove(&authorization) else {
            return Err(
                "the request's Authorization was not produced by the host's signer for this call"
                    .into(),
            );
        };
        let uri = request.uri();
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        if !request
            .method()
            .as_str()
            .eq_ignore_ascii_case(&signed.method)
        {
            return Err(format!(
                "the request's method {} is not the signed {}",
                request.method(),
                signed.method
            ));
        }
        if !authority.eq_ignore_ascii_case(&signed.authority) {
            return Err("the request's host is not the signed host".into());
        }
        if uri.path() != signed.path {
            return Err("the request's path is not the signed path".into());
        }
        if uri.query().unwrap_or_default() != signed.query {
            return Err("the request's query is not the signed query".into());
        }
        for (name, value) in &signed.headers {
            if header(name).as_deref() != Some(value.as_str()) {
                return Err(format!("the request's {name} header is not the signed one"));
            }
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_by_name_writes_by_manifest_secrets_never() {
        assert!(is_read("ListUsers") && is_read("GetRole"));
        assert!(!is_read("Listen") && !is_read("Get") && !is_read("CreateUser"));
        let p = ActionPolicy::new(
            &["ims:GenerateCredentialReport".into()],
            &["ram:AddUserToGroup".into()],
        );
        assert!(p.check(CallKind::Sync, "ram", "ListUsers").is_ok());
        assert!(
            p.check(CallKind::Sync, "ims", "GenerateCredentialReport")
                .is_ok()
        );
        assert!(p.check(CallKind::Sync, "ram", "AddUserToGroup").is_err());
        assert!(
            p.check(CallKind::Provision, "ram", "AddUserToGroup")
                .is_ok()
        );
        assert!(
            p.check(CallKind::Provision, "ram", "AttachPolicyToUser")
                .is_err()
        );
        assert!(
            p.check(CallKind::Provision, "ram", "CreateAccessKey")
                .is_err()
        );
        assert!(p.check(CallKind::Sync, "sts", "AssumeRole").is_err());
        assert!(p.check(CallKind::Sync, "sts", "GetCallerIdentity").is_ok());
    }

    #[test]
    fn manifest_entries_are_checked() {
        assert!(check_entry("ram:AddUserToGroup").is_ok());
        assert!(check_entry("AddUserToGroup").is_err());
        assert!(check_entry("ecs:DeleteInstance").is_err());
        assert!(check_entry("ram:Add User").is_err());
        assert!(check_entry("ram:CreateAccessKey").is_err());
    }
}
