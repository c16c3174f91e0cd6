"""Prints signing cases with the official SDK's ACS3 Authorization for each, one JSON per line.

Cases are generated from a fixed seed: Unicode, reserved characters, empty values,
optional content-type and STS tokens.
"""
import hashlib
import json
import random
import sys
from types import SimpleNamespace

from alibabacloud_tea_openapi.utils import Utils

VALUES = [
    "", " ", "a b", "plus+sign", "slash/inside", "star*", "tilde~", "percent%20", "amp&eq=",
    "!'()*", "中文名称", "naïve café", "emoji 🚀", "quote\"and'single", "semi;colon:at@",
    "hash#question?", "brackets[]{}", "comma,dollar$", "back\\slash", "tab\tnew\nline",
    "active,freeze", "+/+/AAAA==", "acs:ram::1234567890123456:role/x", "-_.~", "UPPER lower 0123",
]
KEYS = ["Marker", "MaxItems", "Status", "GroupName", "RoleName", "PolicyType", "Tag.1.Key",
        "Tag.1.Value", "UserPrincipalName", "Description", "a", "Z", "x-y_z.w~"]


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rng = random.Random(20261124)
    for i in range(count):
        keys = rng.sample(KEYS, rng.randint(0, 6))
        query = {k: rng.choice(VALUES) + (rng.choice(VALUES) if rng.random() < 0.3 else "") for k in keys}
        body = "" if rng.random() < 0.8 else rng.choice(VALUES[1:])
        payload = hashlib.sha256(body.encode("utf-8")).hexdigest()
        headers = {
            "host": rng.choice(["ram.aliyuncs.com", "ims.aliyuncs.com", "127.0.0.1:8080", "sts.cn-hangzhou.aliyuncs.com"]),
            "x-acs-action": rng.choice(["ListUsers", "ListGroups", "ListRoles", "GetCallerIdentity"]),
            "x-acs-version": rng.choice(["2015-05-01", "2019-08-15", "2015-04-01"]),
            "x-acs-date": "2026-%02d-%02dT%02d:%02d:%02dZ" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)),
            "x-acs-signature-nonce": "%032x" % rng.getrandbits(128),
            "x-acs-content-sha256": payload,
        }
        if rng.random() < 0.3:
            headers["content-type"] = "application/x-www-form-urlencoded"
        token = None
        if rng.random() < 0.3:
            token = "CAIS" + "".join(rng.choice("ABCDEFGHabcdefgh0123456789+/=") for _ in range(40))
            headers["x-acs-security-token"] = token
        ak = "LTAI" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16))
        sk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(30))
        method = rng.choice(["POST", "GET"])
        request = SimpleNamespace(method=method, pathname="/", query=dict(query), headers=dict(headers))
        authorization = Utils.get_authorization(request, "ACS3-HMAC-SHA256", payload, ak, sk)
        print(json.dumps({
            "method": method, "path": "/", "host": headers["host"],
            "query": sorted(query.items()), "headers": sorted(headers.items()),
            "body": body, "payload_hash": payload, "access_key_id": ak, "access_key_secret": sk,
            "security_token": token, "authorization": authorization,
        }, ensure_ascii=False))


if __name__ == "__main__":
    main()
