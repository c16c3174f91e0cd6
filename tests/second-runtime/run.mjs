#!/usr/bin/env node
// Runs a ramsync syncer component, transpiled by jco (--instantiation async), in Node.js:
// resource-type, then list-resources page by page until no next token, then (unless the
// type skips them) entitlements and grants of the first --max-resources resources.
// Prints each page as one JSON line, in the shape of `ramsync run-plugin`'s output.
//
//   node transpile.mjs users.wasm out && node run.mjs --component out/users.js --resource-type user \
//     --endpoint ims=http://127.0.0.1:18090 [--products ims] [--max-resources 5]
//
// Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
// (/ ALIBABA_CLOUD_SECURITY_TOKEN).
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import path from "node:path";
import { makeHost } from "./host.mjs";

const { values: args } = parseArgs({
  options: {
    component: { type: "string" },
    "resource-type": { type: "string" },
    endpoint: { type: "string", multiple: true, default: [] },
    products: { type: "string", default: "ram,ims,sts" },
    "max-resources": { type: "string", default: "5" },
    verbose: { type: "boolean", short: "v", default: false },
  },
});
if (!args.component || !args["resource-type"] || args.endpoint.length === 0) {
  console.error("usage: node run.mjs --component out/X.js --resource-type T --endpoint PRODUCT=URL ...");
  process.exit(2);
}

const endpoints = Object.fromEntries(
  args.endpoint.map((e) => {
    const i = e.indexOf("=");
    if (i < 0) throw new Error(`--endpoint ${e}: expected PRODUCT=URL`);
    return [e.slice(0, i), e.slice(i + 1).replace(/\/+$/, "")];
  }),
);
const credential = {
  accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID ?? "",
  accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET ?? "",
  securityToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined,
};
const host = makeHost({
  endpoints,
  granted: args.products.split(",").map((s) => s.trim()).filter(Boolean),
  credential,
  log: args.verbose ? (l) => console.error(`[host] ${l}`) : undefined,
});

const componentPath = path.resolve(args.component);
const dir = path.dirname(componentPath);
const { instantiate } = await import(pathToFileURL(componentPath).href);
const root = await instantiate(
  async (name) => WebAssembly.compile(await readFile(path.join(dir, name))),
  host.imports,
);
const syncer = root.syncer;

// Same JSON shapes as host/src/cli/run_plugin.rs.
const ref = (r) => ({ type: r.resourceType, id: r.id });
const pairs = (ps) => Object.fromEntries(ps);
const resourceJson = (r) => ({
  ref: ref(r.ref),
  name: r.name,
  display_name: r.displayName,
  parent: r.parent ? ref(r.parent) : null,
  attributes: pairs(r.attributes),
});
const entitlementJson = (e) => ({
  resource: ref(e.resource),
  slug: e.slug,
  display_name: e.displayName,
  grantable_to: e.grantableTo,
});
const grantJson = (g) => ({
  resource: ref(g.resource),
  entitlement: g.entitlement,
  principal: ref(g.principal),
  principal_name: g.principalName,
  attributes: pairs(g.attributes),
});

/** Calls an export; a WIT `err` arrives as a thrown ComponentError with `.payload`. */
function call(what, fn) {
  try {
    return fn();
  } catch (e) {
    if (e && "payload" in e) {
      const p = e.payload;
      const detail = typeof p.val === "string" ? p.val : JSON.stringify(p.val, (_, v) => (typeof v === "bigint" ? Number(v) : v));
      console.error(`${what} failed: ${p.tag}: ${detail}`);
      process.exit(1);
    }
    throw e;
  }
}

const info = syncer.resourceType();
console.error(`resource-type: ${JSON.stringify(info)}`);
if (info.id !== args["resource-type"]) {
  console.error(`${args.component} syncs resource type ${JSON.stringify(info.id)}, not ${JSON.stringify(args["resource-type"])}`);
  process.exit(1);
}
if (info.parentType || info.enriches) {
  console.error("nested and enriching syncers need their context resources from another syncer; run.mjs does not list them");
  process.exit(1);
}
host.takeApiCalls();

const listed = [];
let token;
do {
  const page = call("list-resources", () => syncer.listResources(undefined, token));
  console.log(JSON.stringify({
    call: "list-resources",
    parent: null,
    page_token: token ?? null,
    items: page.items.map(resourceJson),
    next_page_token: page.nextPageToken ?? null,
    api_calls: host.takeApiCalls(),
  }));
  listed.push(...page.items);
  token = page.nextPageToken;
} while (token !== undefined);

if (!info.skipEntitlementsAndGrants) {
  for (const resource of listed.slice(0, Number(args["max-resources"]))) {
    for (const which of ["entitlements", "grants"]) {
      let token;
      do {
        const page = call(which, () => syncer[which](resource, token));
        const line = {
          call: which,
          resource: ref(resource.ref),
          page_token: token ?? null,
          items: page.items.map(which === "entitlements" ? entitlementJson : grantJson),
          next_page_token: page.nextPageToken ?? null,
          api_calls: host.takeApiCalls(),
        };
        if (which === "grants") line.resource_attributes = pairs(page.resourceAttributes);
        console.log(JSON.stringify(line));
        token = page.nextPageToken;
      } while (token !== undefined);
    }
  }
}
