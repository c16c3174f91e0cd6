//! `ramsync sign`: a request on stdin, signed by the signer plugin, explained.

use crate::credentials::Credential;
use crate::engine::{HttpRequest, Limits};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// The JSON that `ramsync sign` reads.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInput {
    method: String,
    host: String,
    #[serde(default = "slash")]
    path: String,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    access_key_id: String,
    access_key_secret: String,
    #[serde(default)]
    security_token: Option<String>,
}

pub(crate) fn slash() -> String {
    "/".into()
}

pub(crate) async fn sign(plugin_dir: Option<&Path>) -> Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read stdin")?;
    let input: SignInput = serde_json::from_str(&text).map_err(|e| {
        // serde quotes wrongly typed values, and the input holds secrets: name only the place.
        let what = e.to_string();
        let what = if what.starts_with("missing field") || what.starts_with("unknown field") {
            what
        } else {
            format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()).to_lowercase()
        };
        anyhow::anyhow!(
            "invalid input on stdin: {what}. Expected {{\"method\",\"host\",\"path\",\"query\":{{..}},\"headers\":{{..}},\"body\",\"access_key_id\",\"access_key_secret\",\"security_token\"?}} with string values"
        )
    })?;
    let credential = Credential::new(
        input.access_key_id,
        input.access_key_secret,
        input.security_token,
    );
    let mut headers: Vec<(String, String)> = input
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    if !headers.iter().any(|(k, _)| k == "host") {
        headers.push(("host".into(), input.host.clone()));
    }
    if !headers.iter().any(|(k, _)| k == "x-acs-content-sha256") {
        headers.push((
            "x-acs-content-sha256".into(),
            ramsync_acs3::hashed_payload(input.body.as_bytes()),
        ));
    }
    let request = HttpRequest {
        method: input.method,
        host: input.host,
        path: input.path,
        query: input.query.into_iter().collect(),
        headers,
        body: input.body.into_bytes(),
    };
    let engine = crate::engine::new_engine()?;
    let set = crate::manifest::load_set(plugin_dir)?;
    let Some(entry) = set
        .iter()
        .find(|p| p.entry.kind == crate::manifest::Kind::Signer)
    else {
        bail!("the plugin set has no signer");
    };
    let signer =
        crate::engine::Signer::load(&engine, &entry.entry.name, &entry.wasm, Limits::default())?;
    let signature = signer.sign(&request, &credential).await?.map_err(|e| {
        anyhow::anyhow!(
            "the signer refused the request: {}",
            crate::scheduler::plugin_error_line(&e)
        )
    })?;
    let header = |name: &str| {
        signature
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let added: BTreeMap<&str, &str> = signature
        .headers
        .iter()
        .filter(|(k, _)| k != "x-acs-security-token")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = serde_json::json!({
        // The STS token is a secret: shown redacted, like everywhere else.
        "canonical_request": redact_token(&signature.canonical_request),
        "string_to_sign": signature.string_to_sign,
        "authorization": header("authorization").unwrap_or_default(),
        "added_headers": added,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn redact_token(canonical_request: &str) -> String {
    canonical_request
        .lines()
        .map(|l| {
            if l.starts_with("x-acs-security-token:") {
                "x-acs-security-token:<redacted>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
