//! Signer plugin: ACS3-HMAC-SHA256 over the pure `ramsync-acs3` crate.
//! It adds a fresh `x-acs-date` and `x-acs-signature-nonce` to every request that lacks them.

wit_bindgen::generate!({ world: "signer-plugin", path: "../../wit" });

use exports::ramsync::connector::signer::{Credential, Guest, Signature};
use ramsync::connector::types::{Error, HttpRequest};
use time::macros::format_description;

struct Acs3;

impl Guest for Acs3 {
    fn algorithm() -> String {
        ramsync_acs3::ALGORITHM.to_string()
    }

    fn sign(request: HttpRequest, credential: Credential) -> Result<Signature, Error> {
        if credential.access_key_id.is_empty() || credential.access_key_secret.is_empty() {
            return Err(Error::InvalidInput(
                "the credential has an empty AccessKey id or secret".into(),
            ));
        }
        if request.method.is_empty() || request.host.is_empty() {
            return Err(Error::InvalidInput(
                "the request has no method or no host".into(),
            ));
        }
        let HttpRequest {
            method,
            host,
            path,
            query,
            mut headers,
            body,
        } = request;
        for (name, _) in &mut headers {
            name.make_ascii_lowercase();
        }
        let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(k, _)| k == name);
        if !has(&headers, "host") {
            headers.push(("host".into(), host));
        }
        let mut added = Vec::with_capacity(5);
        if !has(&headers, "x-acs-date") {
            added.push(("x-acs-date".to_string(), now()?));
        }
        if !has(&headers, "x-acs-signature-nonce") {
            added.push(("x-acs-signature-nonce".to_string(), nonce()?));
        }
        if !has(&headers, "x-acs-content-sha256") {
            added.push((
                "x-acs-content-sha256".to_string(),
                ramsync_acs3::hashed_payload(&body),
            ));
        }
        headers.retain(|(k, _)| k != "x-acs-security-token");
        if let Some(token) = credential.security_token.filter(|t| !t.is_empty()) {
            added.push(("x-acs-security-token".to_string(), token));
        }
        let all: Vec<(&str, &str)> = headers
            .iter()
            .chain(&added)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let payload = all
            .iter()
            .find(|(k, _)| *k == "x-acs-content-sha256")
            .map_or("", |(_, v)| *v);
        let input = ramsync_acs3::SigningInput {
            method: &method,
            path: &path,
            query: &query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            headers: &all,
            hashed_payload: payload,
        };
        let signature = with_key(
            &credential.access_key_id,
            &credential.access_key_secret,
            |key| key.sign(&input),
        );
        added.push(("authorization".to_string(), signature.authorization));
        Ok(Signature {
            headers: added,
            canonical_request: signature.canonical_request,
            string_to_sign: signature.string_to_sign,
        })
    }
}

/// The key of the credential this instance signs with, keyed once: the host keeps an
/// instance for one AccessKey id only, so nearly every call finds it here. A call with
/// another id or secret replaces it.
struct Kept {
    secret: String,
    key: ramsync_acs3::SigningKey,
}

thread_local! {
    static KEY: std::cell::RefCell<Option<Kept>> = const { std::cell::RefCell::new(None) };
}

fn with_key<R>(id: &str, secret: &str, f: impl FnOnce(&ramsync_acs3::SigningKey) -> R) -> R {
    KEY.with_borrow_mut(|kept| {
        if kept
            .as_ref()
            .is_some_and(|k| k.key.access_key_id() != id || k.secret != secret)
        {
            *kept = None;
        }
        let kept = kept.get_or_insert_with(|| Kept {
            secret: secret.to_string(),
            key: ramsync_acs3::SigningKey::new(id, secret),
        });
        f(&kept.key)
    })
}

fn now() -> Result<String, Error> {
    time::OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|e| Error::InvalidInput(format!("cannot format the date: {e}")))
}

fn nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::InvalidInput(format!("no randomness for the nonce: {e}")))?;
    Ok(hex::encode(bytes))
}

export!(Acs3);
