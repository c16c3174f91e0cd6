//! ACS3-HMAC-SHA256 verification as the real gateway does it: the canonical request is rebuilt
//! from the client's `SignedHeaders` and the decoded-then-re-encoded query.

use crate::failure::ApiFailure;
use crate::keys::MockKey;
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// How far `x-acs-date` may be from the server's clock.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// The request as it arrived.
pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// The raw query string from the request line.
    pub(crate) raw_query: &'a str,
    /// Header names lowercased; repeated headers appear more than once.
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
}

impl Incoming<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a query string the way a form decoder does (`+` is a space), as the SDK
/// sends `+` for spaces on the wire.
pub(crate) fn decode_query(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Nonces seen, and the same in the order they came, with when.
type Seen = (
    std::collections::HashSet<String>,
    std::collections::VecDeque<(OffsetDateTime, String)>,
);

/// Remembers nonces for as long as their dates are acceptable.
#[derive(Default)]
pub(crate) struct NonceCache {
    seen: Mutex<Seen>,
}

impl NonceCache {
    /// Records a nonce; false when it was already used. Nonces older than any acceptable
    /// date are forgotten, oldest first, so each call costs O(1) however many were seen.
    fn insert(&self, nonce: &str, now: OffsetDateTime) -> bool {
        let mut guard = self.seen.lock().unwrap();
        let (seen, order) = &mut *guard;
        while let Some((at, _)) = order.front() {
            if now - *at < MAX_SKEW * 2 {
                break;
            }
            if let Some((_, old)) = order.pop_front() {
                seen.remove(&old);
            }
        }
        if !seen.insert(nonce.to_string()) {
            return false;
        }
        order.push_back((now, nonce.to_string()));
        true
    }
}

/// Checks the signature. On success returns the access key id that signed.
pub(crate) fn verify<'k>(
    req: &Incoming<'_>,
    keys: &'k HashMap<String, MockKey>,
    nonces: &NonceCache,
    now: OffsetDateTime,
) -> Result<(&'k str, &'k MockKey), ApiFailure> {
    let incomplete = |why: &str| {
        ApiFailure::new(
            400,
            "IncompleteSignature",
            &format!("The request signature does not conform to Aliyun standards. {why}"),
        )
    };
    let authorization = req
        .header("authorization")
        .ok_or_else(|| incomplete("Authorization header is missing."))?;
    let auth = ramsync_acs3::parse_authorization(authorization).ok_or_else(|| {
        incomplete(
            "Authorization must be ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...",
        )
    })?;
    for required in [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        if !auth.signed_headers.contains(&required) {
            return Err(incomplete(&format!(
                "SignedHeaders must include {required}."
            )));
        }
    }
    let Some((key_id, key)) = keys.get_key_value(auth.access_key_id) else {
        return Err(ApiFailure::new(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    };
    let date = req.header("x-acs-date").unwrap_or_default();
    let when = OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiFailure::new(
                400,
                "InvalidTimeStamp.Format",
                &format!("Specified time stamp or date value is not well formatted: {date:?}."),
            )
        })?;
    if (now - when).abs() > MAX_SKEW {
        return Err(ApiFailure::new(
            400,
            "InvalidTimeStamp.Expired",
            &format!(
                "Specified time stamp or date value is expired. x-acs-date {date} is more than 15 minutes from the server time."
            ),
        ));
    }
    let body_hash = ramsync_acs3::hashed_payload(req.body);
    let claimed_hash = req.header("x-acs-content-sha256").unwrap_or_default();
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&(String, String)> =
            req.headers.iter().filter(|(k, _)| k == name).collect();
        if values.is_empty() {
            return Err(incomplete(&format!(
                "Signed header {name} is missing from the request."
            )));
        }
        signed.extend(values.into_iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    let query = ramsync_acs3::canonical_query(&decode_query(req.raw_query));
    let (canonical, _) =
        ramsync_acs3::canonical_request(req.method, req.path, &query, &signed, claimed_hash);
    let string_to_sign = ramsync_acs3::string_to_sign(&canonical);
    let expected = ramsync_acs3::signature_hex(key.secret.expose(), &string_to_sign);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes())
        || claimed_hash != body_hash
    {
        return Err(ApiFailure::new(
            400,
            "SignatureDoesNotMatch",
            &format!(
                "The request signature we calculated does not match the signature you provided. Check your key and signing method. Server string to sign is:{}",
                string_to_sign.replace('\n', "\\n")
            ),
        ));
    }
    if let Some(token) = &key.security_token {
        match req.header("x-acs-security-token") {
            None => {
                return Err(ApiFailure::new(
                    400,
                    "InvalidSecurityToken.MissingParameter",
                    "The security token is missing.",
                ));
            }
            Some(t) if t != token.expose() => {
                return Err(ApiFailure::new(
                    400,
                    "InvalidSecurityToken.Mismatch",
                    "The security token does not match the access key.",
                ));
            }
            Some(_) if !auth.signed_headers.contains(&"x-acs-security-token") => {
                return Err(incomplete(
                    "SignedHeaders must include x-acs-security-token.",
                ));
            }
            Some(_) => {}
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiFailure::new(
                400,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
    }
    let nonce = req.header("x-acs-signature-nonce").unwrap_or_default();
    if nonce.is_empty() || !nonces.insert(nonce, now) {
        return Err(ApiFailure::new(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok((key_id.as_str(), key))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
