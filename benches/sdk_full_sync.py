"""Fetches what a full `ramsync sync` fetches, with the official Alibaba Cloud Python SDK.

Usage: sdk_full_sync.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET [--workers N]

The baseline of the README's speed comparison. It makes the calls ramsync's syncer plugins
(plugins/*/src/lib.rs) make, with their page sizes, and keeps the results in dicts:

  account   STS GetCallerIdentity, RAM GetAccountAlias
  users     IMS ListUsers Status=active,freeze MaxItems=1000
  keys      per user RAM ListAccessKeys UserName=<login name>; per active key IMS
            GetAccessKeyLastUsed (its last use, for the access-key-unused finding)
  mfa/login IMS ListVirtualMFADevices MaxItems=100; per user IMS GetLoginProfile
            (EntityNotExist.User.LoginProfile means no console logon, not an error)
  groups    IMS ListGroups MaxItems=100; per group IMS ListUsersForGroup MaxItems=100
  roles     RAM ListRoles MaxItems=1000; per role RAM GetRole (the trust policy)
  policies  RAM ListPolicies MaxItems=1000; per policy whose AttachmentCount is not 0
            RAM ListEntitiesForPolicy and RAM GetPolicy (its default version's document)

It does not use the IMS credential report, which ramsync reads instead of the per-user
calls where Alibaba Cloud offers it (accounts of at most 3,500 users): the calls here are
what a script without it makes, and for larger accounts what ramsync makes too (after one
refused GenerateCredentialReport).

The lists run in order; the per-resource calls run in order with --workers 1 (as a typical
script would) or on N threads, each with its own clients. (ramsync lists AccessKeys one
user at a time, as a nested type; here they are per-resource calls like the rest.) No retries (autoretry=False).
Prints one JSON object; "seconds" covers client creation and every call, not Python's
start-up. Exits 1 on any SDK error.

The README figure: against `ramsync mock --listen 127.0.0.1:18080 --synthetic SPEC`, run
`ramsync sync --endpoint ram=http://127.0.0.1:18080 ...` (it prints "complete in S s, N API
calls"), restart the mock with the same SPEC, run this script with --workers 1 and
--workers 8 (ramsync's default concurrency), check the call counts match, divide the seconds.
ramsync paces itself to --qps (default 50 per product); pass --qps 0 to compare raw speed.
Its time includes writing SQLite, so the disk it writes to matters; this script writes nothing.
"""
import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_ims20190815.client import Client as Ims
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as Ram
from alibabacloud_sts20150401.client import Client as Sts
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

RUNTIME = RuntimeOptions(autoretry=False)
ARGS = None
_local = threading.local()
_lock = threading.Lock()
_calls = 0


def clients():
    """This thread's SDK clients; SDK clients are not documented as thread-safe."""
    if not hasattr(_local, "ram"):
        config = lambda: Config(access_key_id=ARGS.access_key_id, access_key_secret=ARGS.access_key_secret,
                                endpoint=ARGS.endpoint, protocol="http")
        _local.ram, _local.ims, _local.sts = Ram(config()), Ims(config()), Sts(config())
    return _local


def call(method, *request):
    global _calls
    with _lock:
        _calls += 1
    return method(*request, RUNTIME).body


def items(wrapper, name):
    """The list inside a wrapper such as body.users.user; the API omits empty lists."""
    return (getattr(wrapper, name, None) or []) if wrapper else []


def pages(method, make_request, items_of):
    """Every item of a Marker/IsTruncated paged list."""
    marker = None
    while True:
        body = call(method, make_request(marker))
        yield from items_of(body)
        if not body.is_truncated:
            return
        if not body.marker:
            raise RuntimeError("IsTruncated without a Marker")
        marker = body.marker


def members(group_name):
    ims = clients().ims
    return {u.user_id: u.user_principal_name for u in pages(
        ims.list_users_for_group_with_options,
        lambda m: ims_models.ListUsersForGroupRequest(group_name=group_name, max_items=100, marker=m),
        lambda b: items(b.users, "user"))}


def access_keys(user_principal_name):
    c = clients()
    body = call(c.ram.list_access_keys_with_options,
                ram_models.ListAccessKeysRequest(user_name=user_principal_name.split("@")[0]))
    keys = []
    for k in items(body.access_keys, "access_key"):
        last_used = None
        if k.status == "Active":
            used = call(c.ims.get_access_key_last_used_with_options,
                        ims_models.GetAccessKeyLastUsedRequest(
                            user_principal_name=user_principal_name, user_access_key_id=k.access_key_id))
            last_used = used.access_key_last_used.last_used_date if used.access_key_last_used else None
        keys.append((k.access_key_id, k.status, k.create_date, last_used))
    return keys


def login_profile(user_principal_name):
    try:
        body = call(clients().ims.get_login_profile_with_options,
                    ims_models.GetLoginProfileRequest(user_principal_name=user_principal_name))
    except Exception as e:
        if getattr(e, "code", None) == "EntityNotExist.User.LoginProfile":
            return None
        raise
    p = body.login_profile
    return {"status": p.status, "password_reset_required": p.password_reset_required,
            "mfa_bind_required": p.mfabind_required}


def trust_policy(role_name):
    body = call(clients().ram.get_role_with_options, ram_models.GetRoleRequest(role_name=role_name))
    return body.role.assume_role_policy_document


def attachments(key):
    name, policy_type = key
    ram = clients().ram
    body = call(ram.list_entities_for_policy_with_options,
                ram_models.ListEntitiesForPolicyRequest(policy_name=name, policy_type=policy_type))
    entities = ([("user", u.user_id) for u in items(body.users, "user")]
                + [("group", g.group_name) for g in items(body.groups, "group")]
                + [("role", r.role_id) for r in items(body.roles, "role")])
    policy = call(ram.get_policy_with_options,
                  ram_models.GetPolicyRequest(policy_name=name, policy_type=policy_type))
    document = policy.default_policy_version.policy_document
    return {"entities": entities, "document": document}


def full_sync():
    """Everything a sync reads, by kind; the per-resource kinds map each resource to its result."""
    c = clients()
    data = {
        "account": {"id": call(c.sts.get_caller_identity_with_options).account_id,
                    "alias": call(c.ram.get_account_alias_with_options).account_alias},
        "users": {u.user_id: u for u in pages(
            c.ims.list_users_with_options,
            lambda m: ims_models.ListUsersRequest(status="active,freeze", max_items=1000, marker=m),
            lambda b: items(b.users, "user"))},
        "mfa_devices": {d.serial_number: d for d in pages(
            c.ims.list_virtual_mfadevices_with_options,
            lambda m: ims_models.ListVirtualMFADevicesRequest(max_items=100, marker=m),
            lambda b: items(b.virtual_mfadevices, "virtual_mfadevice"))},
        "groups": {g.group_name: g for g in pages(
            c.ims.list_groups_with_options,
            lambda m: ims_models.ListGroupsRequest(max_items=100, marker=m),
            lambda b: items(b.groups, "group"))},
        "roles": {r.role_name: r for r in pages(
            c.ram.list_roles_with_options,
            lambda m: ram_models.ListRolesRequest(max_items=1000, marker=m),
            lambda b: items(b.roles, "role"))},
        "policies": {(p.policy_name, p.policy_type): p for p in pages(
            c.ram.list_policies_with_options,
            lambda m: ram_models.ListPoliciesRequest(max_items=1000, marker=m),
            lambda b: items(b.policies, "policy"))},
        "memberships": {}, "trust_policies": {}, "attachments": {},
        "access_keys": {}, "login_profiles": {},
    }
    # Like ramsync, an unknown AttachmentCount is asked about rather than taken as 0.
    attached = [k for k, p in data["policies"].items() if p.attachment_count != 0]
    upns = [u.user_principal_name for u in data["users"].values()]
    tasks = ([("access_keys", access_keys, u) for u in upns]
             + [("login_profiles", login_profile, u) for u in upns]
             + [("memberships", members, g) for g in data["groups"]]
             + [("trust_policies", trust_policy, r) for r in data["roles"]]
             + [("attachments", attachments, k) for k in attached])
    run = lambda task: task[1](task[2])
    if ARGS.workers == 1:
        results = [run(t) for t in tasks]
    else:
        pool = ThreadPoolExecutor(ARGS.workers)
        try:
            results = list(pool.map(run, tasks))
        finally:
            pool.shutdown(cancel_futures=True)
    for (kind, _, key), result in zip(tasks, results):
        data[kind][key] = result
    return data


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", help="HOST:PORT of the API, served over http")
    parser.add_argument("access_key_id")
    parser.add_argument("access_key_secret")
    parser.add_argument("--workers", type=int, default=1, help="threads for the per-resource calls")
    ARGS = parser.parse_args()
    if ARGS.workers < 1:
        parser.error("--workers must be at least 1")
    started = time.perf_counter()
    try:
        data = full_sync()
    except Exception as e:  # the SDK raises its own exception types, with .code when from the API
        code = getattr(e, "code", None)
        print(f"error: the SDK sync failed after {_calls} calls: {type(e).__name__}"
              f"{f' {code}' if code else ''}: {e}", file=sys.stderr)
        sys.exit(1)
    seconds = time.perf_counter() - started
    out = {"calls": _calls, "seconds": round(seconds, 3)}
    out.update({k: len(data[k]) for k in ("users", "groups", "roles", "policies")})
    out["memberships"] = sum(len(m) for m in data["memberships"].values())
    out["attachments"] = sum(len(a["entities"]) for a in data["attachments"].values())
    out["access_keys"] = sum(len(k) for k in data["access_keys"].values())
    out["login_profiles"] = sum(1 for p in data["login_profiles"].values() if p is not None)
    out["mfa_devices"] = len(data["mfa_devices"])
    out["workers"] = ARGS.workers
    print(json.dumps(out))


if __name__ == "__main__":
    main()
