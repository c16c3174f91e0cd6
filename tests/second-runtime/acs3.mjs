// ACS3-HMAC-SHA256 in JavaScript: a port of plugins/acs3 (the signing crate) and of the
// signer plugin's header handling (plugins/signer-acs3), for the second runtime's host.
import { createHash, createHmac, randomBytes } from "node:crypto";

export const ALGORITHM = "ACS3-HMAC-SHA256";
export const EMPTY_BODY_SHA256 =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Rust compares Strings by their UTF-8 bytes; JS's default sort compares UTF-16 code
// units, which differ for characters above U+FFFF. Compare bytes, as Rust does.
const utf8 = (s) => Buffer.from(s, "utf8");
const byteCmp = (a, b) => Buffer.compare(utf8(a), utf8(b));

/** RFC 3986: A-Za-z0-9-_.~ stay; every other UTF-8 byte becomes %XX, uppercase hex. */
export function percentEncode(s) {
  let out = "";
  for (const b of utf8(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Pairs sorted by (key, value), each encoded as k=v, joined by &. Also the wire query. */
export function canonicalQuery(query) {
  return [...query]
    .sort(([ka, va], [kb, vb]) => byteCmp(ka, kb) || byteCmp(va, vb))
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join("&");
}

export const hashedPayload = (body) =>
  createHash("sha256").update(body ?? new Uint8Array()).digest("hex");

export function isSignedHeader(name) {
  const n = name.toLowerCase();
  return n === "host" || n === "content-type" || n.startsWith("x-acs-");
}

/** The canonical headers block and the signed header list (lowercase names, trimmed values). */
export function canonicalHeaders(headers) {
  const merged = new Map();
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    if (!merged.has(name)) merged.set(name, []);
    merged.get(name).push(v.trim());
  }
  const names = [...merged.keys()].sort(byteCmp);
  let block = "";
  for (const name of names) {
    block += `${name}:${merged.get(name).sort(byteCmp).join(",")}\n`;
  }
  return { block, signedHeaders: names.join(";") };
}

/** Signs { method, path, query, headers, hashedPayload } with an AccessKey. */
export function sign(input, accessKeyId, accessKeySecret) {
  const signed = input.headers.filter(([k]) => isSignedHeader(k));
  const { block, signedHeaders } = canonicalHeaders(signed);
  const path = input.path || "/";
  const canonicalRequest = [
    input.method.toUpperCase(),
    path,
    canonicalQuery(input.query),
    block,
    signedHeaders,
    input.hashedPayload,
  ].join("\n");
  const stringToSign = `${ALGORITHM}\n${createHash("sha256").update(canonicalRequest, "utf8").digest("hex")}`;
  const signature = createHmac("sha256", Buffer.from(accessKeySecret, "utf8"))
    .update(stringToSign, "utf8")
    .digest("hex");
  const authorization = `${ALGORITHM} Credential=${accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
  return { canonicalRequest, stringToSign, signedHeaders, signature, authorization };
}

/** `YYYY-MM-DDTHH:MM:SSZ`, UTC. */
export const acsDate = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * What the signer plugin's `sign` does (plugins/signer-acs3): lowercase the headers, add
 * host, a fresh x-acs-date and x-acs-signature-nonce and x-acs-content-sha256 unless
 * present, the security token if any, then sign. Returns the headers it added plus
 * `authorization` (the list the host hands back to the syncer), and the debug strings.
 */
export function signRequest(request, credential) {
  if (!credential.accessKeyId || !credential.accessKeySecret) {
    throw { tag: "invalid-input", val: "the credential has an empty AccessKey id or secret" };
  }
  if (!request.method || !request.host) {
    throw { tag: "invalid-input", val: "the request has no method or no host" };
  }
  let headers = request.headers.map(([k, v]) => [k.toLowerCase(), v]);
  const has = (name) => headers.some(([k]) => k === name);
  const added = [];
  if (!has("host")) headers.push(["host", request.host]);
  if (!has("x-acs-date")) added.push(["x-acs-date", acsDate()]);
  if (!has("x-acs-signature-nonce")) added.push(["x-acs-signature-nonce", randomBytes(16).toString("hex")]);
  if (!has("x-acs-content-sha256")) added.push(["x-acs-content-sha256", hashedPayload(request.body)]);
  headers = headers.filter(([k]) => k !== "x-acs-security-token");
  if (credential.securityToken) added.push(["x-acs-security-token", credential.securityToken]);
  headers.push(...added);
  const payload = headers.find(([k]) => k === "x-acs-content-sha256")?.[1] ?? "";
  const s = sign(
    { method: request.method, path: request.path, query: request.query, headers, hashedPayload: payload },
    credential.accessKeyId,
    credential.accessKeySecret,
  );
  added.push(["authorization", s.authorization]);
  return { headers: added, canonicalRequest: s.canonicalRequest, stringToSign: s.stringToSign };
}
