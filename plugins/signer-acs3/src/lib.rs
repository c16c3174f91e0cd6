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
        let mut headers: Vec<(String, String)> = request
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let mut added = Vec::new();
        let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(k, _)| k == name);
        if !has(&headers, "host") {
            headers.push(("host".into(), request.host.clone()));
        }
        if !has(&headers, "x-acs-date") {
            added.push(("x-acs-date".to_string(), now()?));
        }
        if !has(&headers, "x-acs-signature-nonce") {
            added.push(("x-acs-signature-nonce".to_string(), nonce()?));
        }
        if !has(&headers, "x-acs-content-sha256") {
            added.push((
                "x-acs-content-sha256".to_string(),
                ramsync_acs3::hashed_payload(&request.body),
            ));
        }
        headers.retain(|(k, _)| k != "x-acs-security-token");
        if let Some(token) = credential.security_token.filter(|t| !t.is_empty()) {
            added.push(("x-acs-security-token".to_string(), token));
        }
        headers.extend(added.iter().cloned());
        let payload = headers
            .iter()
            .find(|(k, _)| k == "x-acs-content-sha256")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let input = ramsync_acs3::SigningInput {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            headers: &headers,
            hashed_payload: &payload,
        };
        let signature = ramsync_acs3::sign(
            &input,
            &credential.access_key_id,
            &credential.access_key_secret,
        );
        added.push(("authorization".to_string(), signature.authorization));
        Ok(Signature {
            headers: added,
            canonical_request: signature.canonical_request,
            string_to_sign: signature.string_to_sign,
        })
    }
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
