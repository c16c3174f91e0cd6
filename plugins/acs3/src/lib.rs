//! ACS3-HMAC-SHA256, the request signature of Alibaba Cloud's OpenAPI.
//!
//! Pure functions with no I/O, clock or randomness, so the same code runs natively
//! (tests, benchmarks, the local API's verifier) and inside the signer component.

#![deny(missing_docs)]

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name that starts the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Lowercase hex sha256 of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Percent-encodes per RFC 3986: `A-Za-z0-9-_.~` stay, every other byte of the
/// UTF-8 form becomes `%XX` with uppercase hex (so space is `%20`, never `+`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    percent_encode_into(&mut out, s);
    out
}

fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The canonical query string: pairs sorted by key, each `key=value` encoded, joined by `&`.
/// It is also the exact query to send on the wire, so the server sees what was signed.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(query: &[(K, V)]) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k);
        out.push('=');
        percent_encode_into(&mut out, v);
    }
    out
}

/// Lowercase hex, through the hex crate's table-driven slice encoder: its `encode` goes a
/// character at a time through an iterator, several times slower.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Cannot fail: the buffer is exactly twice the input, and hex digits are ASCII.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex sha256 of a body, the value of `x-acs-content-sha256`.
pub fn hashed_payload(body: &[u8]) -> String {
    to_hex(&Sha256::digest(body))
}

/// Whether a header takes part in the signature: `host`, `content-type` and every `x-acs-*`.
pub fn is_signed_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("host")
        || name.eq_ignore_ascii_case("content-type")
        || name
            .as_bytes()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"x-acs-"))
}

/// The canonical headers block and the signed header list for the given headers.
/// Names are lowercased, values trimmed; repeated headers are joined with `,` in sorted order.
pub fn canonical_headers<K: AsRef<str>, V: AsRef<str>>(headers: &[(K, V)]) -> (String, String) {
    let mut pairs: Vec<(std::borrow::Cow<'_, str>, &str)> = headers
        .iter()
        .map(|(k, v)| (lowercase(k.as_ref()), v.as_ref().trim()))
        .collect();
    // Sorting (name, value) pairs orders the names and, within a name, its values.
    pairs.sort_unstable();
    let mut block = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    let mut signed = String::with_capacity(pairs.iter().map(|(k, _)| k.len() + 1).sum());
    let mut previous: Option<&str> = None;
    for (name, value) in &pairs {
        if previous == Some(name.as_ref()) {
            block.pop();
            block.push(',');
        } else {
            if previous.is_some() {
                signed.push(';');
            }
            signed.push_str(name);
            block.push_str(name);
            block.push(':');
        }
        block.push_str(value);
        block.push('\n');
        previous = Some(name.as_ref());
    }
    (block, signed)
}

/// The name lowercased, borrowed when it already is (as the headers ramsync sends are).
fn lowercase(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Everything computed while signing, kept for debugging signature mismatches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The canonical request: method, path, query, signed headers and body digest.
    pub canonical_request: String,
    /// The algorithm name and the canonical request's digest, which is what is signed.
    pub string_to_sign: String,
    /// The signed header names, lowercase, `;`-separated.
    pub signed_headers: String,
    /// The HMAC-SHA256 of the string to sign, lowercase hex.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

/// What is signed. `headers` should already hold every header to send; only the
/// signed ones (see [`is_signed_header`]) are used.
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a, K, V> {
    /// The HTTP method, for example `POST`.
    pub method: &'a str,
    /// The request path, `/` for RPC calls.
    pub path: &'a str,
    /// The query parameters, unencoded and in any order.
    pub query: &'a [(K, V)],
    /// The headers to send.
    pub headers: &'a [(K, V)],
    /// Lowercase hex sha256 of the body, as sent in `x-acs-content-sha256`.
    pub hashed_payload: &'a str,
}

/// The canonical request and signed header list. Signs exactly the headers given,
/// which lets a verifier rebuild the request from a client's `SignedHeaders`.
pub fn canonical_request<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path: &str,
    canonical_query: &str,
    signed: &[(K, V)],
    hashed_payload: &str,
) -> (String, String) {
    let (block, signed_headers) = canonical_headers(signed);
    let path = if path.is_empty() { "/" } else { path };
    let mut request = String::with_capacity(
        method.len()
            + path.len()
            + canonical_query.len()
            + block.len()
            + signed_headers.len()
            + hashed_payload.len()
            + 5,
    );
    request.extend(method.chars().map(|c| c.to_ascii_uppercase()));
    for part in [
        path,
        canonical_query,
        &block,
        &signed_headers,
        hashed_payload,
    ] {
        request.push('\n');
        request.push_str(part);
    }
    (request, signed_headers)
}

/// `ACS3-HMAC-SHA256\n` followed by the hex sha256 of the canonical request.
pub fn string_to_sign(canonical_request: &str) -> String {
    let digest = to_hex(&Sha256::digest(canonical_request.as_bytes()));
    let mut out = String::with_capacity(ALGORITHM.len() + 1 + digest.len());
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(&digest);
    out
}

/// Lowercase hex HMAC-SHA256 of the string to sign, keyed by the AccessKey secret.
pub fn signature_hex(access_key_secret: &str, string_to_sign: &str) -> String {
    SigningKey::new("", access_key_secret).signature_hex(string_to_sign)
}

/// An AccessKey ready to sign with: its HMAC keyed once, so that the many signatures made
/// with one credential skip hashing the key's two padded blocks each time.
#[derive(Clone)]
pub struct SigningKey {
    access_key_id: String,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Keys the HMAC with the AccessKey secret.
    pub fn new(access_key_id: &str, access_key_secret: &str) -> Self {
        SigningKey {
            access_key_id: access_key_id.to_string(),
            mac: Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// The AccessKey id this key signs as.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    fn signature_hex(&self, string_to_sign: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(string_to_sign.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }

    /// Signs a request.
    pub fn sign<K: AsRef<str>, V: AsRef<str>>(&self, input: &SigningInput<'_, K, V>) -> Signature {
        let signed: Vec<(&str, &str)> = input
            .headers
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .filter(|(k, _)| is_signed_header(k))
            .collect();
        let (canonical_request, signed_headers) = canonical_request(
            input.method,
            input.path,
            &canonical_query(input.query),
            &signed,
            input.hashed_payload,
        );
        let string_to_sign = string_to_sign(&canonical_request);
        let signature = self.signature_hex(&string_to_sign);
        let authorization = format!(
            "{ALGORITHM} Credential={},SignedHeaders={signed_headers},Signature={signature}",
            self.access_key_id
        );
        Signature {
            canonical_request,
            string_to_sign,
            signed_headers,
            signature,
            authorization,
        }
    }
}

/// Signs a request with an AccessKey.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    input: &SigningInput<'_, K, V>,
    access_key_id: &str,
    access_key_secret: &str,
) -> Signature {
    SigningKey::new(access_key_id, access_key_secret).sign(input)
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The AccessKey id of `Credential=`.
    pub access_key_id: &'a str,
    /// The header names of `SignedHeaders=`.
    pub signed_headers: Vec<&'a str>,
    /// The hex of `Signature=`.
    pub signature: &'a str,
}

/// Parses `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
/// Returns None when any part is missing or the algorithm differs.
pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.trim().strip_prefix(ALGORITHM)?.trim_start();
    let (mut id, mut headers, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => id = Some(v),
            "SignedHeaders" => headers = Some(v),
            "Signature" => sig = Some(v),
            _ => return None,
        }
    }
    let (access_key_id, headers, signature) = (id?, headers?, sig?);
    if access_key_id.is_empty() || headers.is_empty() || signature.is_empty() {
        return None;
    }
    Some(Authorization {
        access_key_id,
        signed_headers: headers.split(';').collect(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alibaba's published example (ECS RunInstances).
    #[test]
    fn published_test_vector() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ];
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_BODY_SHA256),
        ];
        let input = SigningInput {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            hashed_payload: EMPTY_BODY_SHA256,
        };
        let s = sign(&input, "YourAccessKeyId", "YourAccessKeySecret");
        assert_eq!(
            s.signed_headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            s.string_to_sign,
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            s.signature,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        assert_eq!(
            s.authorization,
            format!(
                "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={},Signature={}",
                s.signed_headers, s.signature
            )
        );
        let parsed = parse_authorization(&s.authorization).unwrap();
        assert_eq!(parsed.access_key_id, "YourAccessKeyId");
        assert_eq!(parsed.signed_headers.len(), 6);
    }

    #[test]
    fn encoding_follows_rfc3986() {
        assert_eq!(
            percent_encode("a b*c~d/e+f=g&h"),
            "a%20b%2Ac~d%2Fe%2Bf%3Dg%26h"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("-_.~AZaz09"), "-_.~AZaz09");
        assert_eq!(canonical_query(&[("b", ""), ("a", "x y")]), "a=x%20y&b=");
    }

    #[test]
    fn unsigned_headers_are_left_out() {
        let headers = [
            ("Host", "h"),
            ("User-Agent", "x"),
            ("X-Acs-Action", "A"),
            ("Content-Type", "t"),
        ];
        let q: [(&str, &str); 0] = [];
        let input = SigningInput {
            method: "post",
            path: "",
            query: &q,
            headers: &headers,
            hashed_payload: "p",
        };
        let s = sign(&input, "id", "secret");
        assert_eq!(s.signed_headers, "content-type;host;x-acs-action");
        assert!(
            s.canonical_request
                .starts_with("POST\n/\n\ncontent-type:t\nhost:h\nx-acs-action:A\n\n")
        );
    }

    #[test]
    fn repeated_headers_are_joined_in_sorted_order() {
        let headers = [("X-Acs-B", "2"), ("x-acs-b", " 1 "), ("x-acs-a", "z")];
        assert_eq!(
            canonical_headers(&headers),
            (
                "x-acs-a:z\nx-acs-b:1,2\n".to_string(),
                "x-acs-a;x-acs-b".to_string()
            )
        );
        assert!(is_signed_header("X-ACS-DATE") && is_signed_header("Content-Type"));
        assert!(!is_signed_header("x-acs") && !is_signed_header("hostname"));
    }

    #[test]
    fn a_signing_key_signs_again_as_a_fresh_one_does() {
        let query = [("Action", "ListUsers")];
        let headers = [("host", "h"), ("x-acs-date", "d")];
        let input = SigningInput {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            hashed_payload: EMPTY_BODY_SHA256,
        };
        let key = SigningKey::new("id", "secret");
        let first = key.sign(&input);
        assert_eq!(first, key.sign(&input));
        assert_eq!(first, sign(&input, "id", "secret"));
        assert_ne!(first.signature, sign(&input, "id", "other").signature);
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn malformed_authorization_is_rejected() {
        assert!(parse_authorization("").is_none());
        assert!(parse_authorization("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host").is_none());
        assert!(parse_authorization("HMAC Credential=a,SignedHeaders=host,Signature=s").is_none());
        assert!(
            parse_authorization("ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=s")
                .is_none()
        );
    }
}
