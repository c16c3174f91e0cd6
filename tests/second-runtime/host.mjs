// A small JS host for ramsync syncer components transpiled by jco: the `auth` and
// `endpoints` imports, and wasi:http's outgoing-handler wrapped in a policy. It mirrors
// what ramsync's host does (host/engine/src/syncer_state.rs, action_policy.rs,
// http_policy.rs) in a reduced form: no CPU, memory or time limits, no check of a body
// against its signed digest, and no STS security token on the wire (see
// plugins/README.md, "Running a syncer in another runtime").
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { signRequest, canonicalQuery } from "./acs3.mjs";

/** API version -> product, as http_policy::product_of_version. */
const PRODUCT_OF_VERSION = { "2015-05-01": "ram", "2019-08-15": "ims", "2015-04-01": "sts" };

/** Never signed for a plugin: they hand out credentials (action_policy::NEVER_SIGNED). */
const NEVER_SIGNED = new Set([
  "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithOIDC",
  "ram:CreateAccessKey", "ims:CreateAccessKey", "ims:CreateAppSecret",
]);

/** `List…`/`Get…` followed by a capital letter (action_policy::is_read). */
const isRead = (action) => /^(List|Get)[A-Z]/.test(action);

const header = (headers, name) =>
  headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

const MAX_UNSENT_SIGNATURES = 64;

/**
 * Builds the import object for a syncer component.
 * @param {object} o
 * @param {Record<string,string>} o.endpoints product -> base URL, e.g. { ims: "http://127.0.0.1:18090" }
 * @param {string[]} o.granted products the plugin may call
 * @param {{accessKeyId:string, accessKeySecret:string, securityToken?:string}} o.credential
 * @param {(line:string)=>void} [o.log]
 */
export function makeHost({ endpoints, granted, credential, log = () => {} }) {
  const authority = (product) => {
    const url = endpoints[product];
    return url ? new URL(url).host : undefined; // host[:port], as the syncer computes it
  };
  /** authorization -> what was signed; each entry is sent once (action_policy::Ledger). */
  const ledger = new Map();
  /** `product:Action` of every request sent, as run-plugin's api_calls. */
  const apiCalls = [];

  const refuse = (why) => {
    log(`refused: ${why}`);
    throw { tag: "invalid-input", val: `the host refused to sign: ${why}` };
  };

  const auth = {
    // jco: return the ok value; throw the err payload (a WIT `error` variant value).
    sign(request) {
      const action = header(request.headers, "x-acs-action") ?? "";
      const version = header(request.headers, "x-acs-version") ?? "";
      if (!action || !version) refuse("a request to sign must name its x-acs-action and x-acs-version");
      const product = PRODUCT_OF_VERSION[version];
      if (!product) refuse(`API version ${JSON.stringify(version)} is not one ramsync knows`);
      if (!granted.includes(product)) refuse(`product ${product} is not granted`);
      const expected = authority(product) ?? "";
      if (request.host.toLowerCase() !== expected.toLowerCase()) {
        refuse(`${request.host} (asked to sign for it; the ${product} endpoint is ${expected})`);
      }
      const headerHost = header(request.headers, "host") ?? request.host;
      if (headerHost.toLowerCase() !== expected.toLowerCase()) refuse(`${headerHost} (in the signed host header)`);
      if (NEVER_SIGNED.has(`${product}:${action}`)) refuse(`${product}:${action} returns credentials and is never signed for a plugin`);
      if (!isRead(action)) refuse(`${product}:${action} is not a read action`);
      if (ledger.size >= MAX_UNSENT_SIGNATURES) refuse(`it asked for more than ${MAX_UNSENT_SIGNATURES} signatures without sending the requests`);

      const signed = signRequest(request, credential);
      // The token goes on the wire from the host, never to the syncer.
      const headers = signed.headers.filter(([k]) => k.toLowerCase() !== "x-acs-security-token");
      const authorization = header(headers, "authorization");
      const mustMatch = [...request.headers, ...headers]
        .filter(([k]) => !["host", "authorization"].includes(k.toLowerCase()))
        .map(([k, v]) => [k.toLowerCase(), v]);
      mustMatch.push(["authorization", authorization]);
      ledger.set(authorization, {
        product, action,
        method: request.method,
        authority: request.host,
        path: request.path,
        query: canonicalQuery(request.query),
        headers: mustMatch,
      });
      log(`signed ${product}:${action}`);
      return headers;
    },
  };

  const endpointsImport = {
    baseUrl(product) {
      // A product the plugin is not granted has no endpoint, as far as it can tell.
      return granted.includes(product) ? endpoints[product] : undefined;
    },
  };

  const wasi = new WASIShim().getImportObject();
  const shimHandle = wasi["wasi:http/outgoing-handler"].handle;
  const decoder = new TextDecoder();

  // The HTTP hook: send only what the host signed, to where it signed it (ledger take_matching).
  // Deny with the wasi:http error-code `HTTP-request-denied`, as the Rust host does.
  const handle = (request, options) => {
    const deny = (why) => {
      log(`denied: ${why}`);
      throw { tag: "HTTP-request-denied" };
    };
    const fields = request.headers();
    const get = (name) => {
      const v = fields.get(name);
      return v.length ? decoder.decode(v[0]) : undefined;
    };
    const authorization = get("authorization");
    if (!authorization) deny("the request carries no Authorization made by the host");
    const credentialId = authorization.split("Credential=")[1]?.split(",")[0];
    if (credentialId !== credential.accessKeyId) deny("the request is signed with a key other than this account's");
    const signed = ledger.get(authorization);
    if (!signed) deny("the request's Authorization was not produced by the host's signer for this call");
    ledger.delete(authorization);
    const method = request.method();
    const methodName = method.tag === "other" ? method.val : method.tag;
    if (methodName.toUpperCase() !== signed.method.toUpperCase()) deny(`method ${methodName} is not the signed ${signed.method}`);
    if ((request.authority() ?? "").toLowerCase() !== signed.authority.toLowerCase()) deny("the request's host is not the signed host");
    const [path, query = ""] = (request.pathWithQuery() ?? "").split(/\?(.*)/s);
    if (path !== signed.path) deny("the request's path is not the signed path");
    if (query !== signed.query) deny("the request's query is not the signed query");
    for (const [name, value] of signed.headers) {
      if (get(name) !== value) deny(`the request's ${name} header is not the signed one`);
    }
    // The Rust host also checks the body digest; RPC bodies are empty and waki sends none.
    apiCalls.push(`${signed.product}:${signed.action}`);
    return shimHandle(request, options);
  };

  const imports = {
    ...wasi,
    "wasi:http/outgoing-handler": { handle },
    "ramsync:connector/auth": auth,
    "ramsync:connector/endpoints": endpointsImport,
    "ramsync:connector/types": {},
  };
  return {
    imports,
    /** The API calls sent since the last call, then cleared. */
    takeApiCalls: () => apiCalls.splice(0),
  };
}
