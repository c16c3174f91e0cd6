// Checks acs3.mjs against Alibaba's published vector and cases of plugins/acs3's unit tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { sign, percentEncode, canonicalQuery, EMPTY_BODY_SHA256, hashedPayload } from "./acs3.mjs";

test("published test vector (ECS RunInstances)", () => {
  const s = sign({
    method: "POST", path: "/",
    query: [["ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"], ["RegionId", "cn-shanghai"]],
    headers: [
      ["host", "ecs.cn-shanghai.aliyuncs.com"], ["x-acs-action", "RunInstances"],
      ["x-acs-version", "2014-05-26"], ["x-acs-date", "2023-10-26T10:22:32Z"],
      ["x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"],
      ["x-acs-content-sha256", EMPTY_BODY_SHA256],
    ],
    hashedPayload: EMPTY_BODY_SHA256,
  }, "YourAccessKeyId", "YourAccessKeySecret");
  assert.equal(s.signedHeaders, "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
  assert.equal(s.stringToSign, "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
  assert.equal(s.signature, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
});

test("encoding follows RFC 3986", () => {
  assert.equal(percentEncode("a b*c~d/e+f=g&h"), "a%20b%2Ac~d%2Fe%2Bf%3Dg%26h");
  assert.equal(percentEncode("é"), "%C3%A9");
  assert.equal(percentEncode("-_.~AZaz09"), "-_.~AZaz09");
  assert.equal(canonicalQuery([["b", ""], ["a", "x y"]]), "a=x%20y&b=");
  assert.equal(hashedPayload(new Uint8Array()), EMPTY_BODY_SHA256);
});

test("unsigned headers are left out", () => {
  const s = sign({ method: "post", path: "", query: [],
    headers: [["Host", "h"], ["User-Agent", "x"], ["X-Acs-Action", "A"], ["Content-Type", "t"]],
    hashedPayload: "p" }, "id", "secret");
  assert.equal(s.signedHeaders, "content-type;host;x-acs-action");
  assert.ok(s.canonicalRequest.startsWith("POST\n/\n\ncontent-type:t\nhost:h\nx-acs-action:A\n\n"));
});
