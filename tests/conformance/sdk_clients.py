"""Points the official Alibaba Cloud SDK clients at the local API and prints what they read.

Usage: sdk_clients.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET

Lists users, groups, members, roles and policies with small pages so that paging is
exercised, each user's AccessKeys (RAM and IMS), their last use and login profile, the MFA
devices and the credential report (generated, polled and paged), then checks that the local API refuses what the real one refuses.
Prints one JSON object; exits non-zero if a check fails.
"""
import base64
import csv
import datetime
import hashlib
import io
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from types import SimpleNamespace

from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_ims20190815.client import Client as Ims
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as Ram
from alibabacloud_sts20150401.client import Client as Sts
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

ENDPOINT, AK, SK = sys.argv[1], sys.argv[2], sys.argv[3]
RUNTIME = RuntimeOptions(autoretry=False)


def config(ak=AK, sk=SK):
    return Config(access_key_id=ak, access_key_secret=sk, endpoint=ENDPOINT, protocol="http")


def pages(call, make_request, items_of):
    """Follows Marker/IsTruncated until the last page; returns the items and the page count."""
    items, marker, count = [], None, 0
    while True:
        body = call(make_request(marker), RUNTIME).body
        count += 1
        items.extend(items_of(body))
        if not body.is_truncated:
            return items, count
        assert body.marker, "IsTruncated without a Marker"
        marker = body.marker


def error_code(fn):
    try:
        fn()
    except Exception as e:  # the SDK raises its own exception types carrying .code
        return getattr(e, "code", None) or type(e).__name__
    return None


def raw_call(action, version, query, date=None, nonce=None, sign=True, replay=None):
    """Sends a hand-built request signed by the SDK's own get_authorization."""
    body = b""
    payload = hashlib.sha256(body).hexdigest()
    headers = {
        "host": ENDPOINT,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": payload,
    }
    if sign:
        request = SimpleNamespace(method="POST", pathname="/", query=dict(query), headers=dict(headers))
        headers["Authorization"] = Utils.get_authorization(request, "ACS3-HMAC-SHA256", payload, AK, SK)
    url = "http://%s/?%s" % (ENDPOINT, urllib.parse.urlencode(sorted(query.items()), quote_via=urllib.parse.quote))
    sends = 2 if replay else 1
    result = None
    for _ in range(sends):
        req = urllib.request.Request(url, data=body, method="POST", headers={k: v for k, v in headers.items() if k != "host"})
        try:
            with urllib.request.urlopen(req) as r:
                result = (r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            result = (e.code, json.loads(e.read()))
    return result


def main():
    ims, ram, sts = Ims(config()), Ram(config()), Sts(config())
    out = {}

    users, out["user_pages"] = pages(
        ims.list_users_with_options,
        lambda m: ims_models.ListUsersRequest(status="active,freeze", max_items=7, marker=m),
        lambda b: b.users.user if b.users and b.users.user else [])
    out["users"] = {u.user_principal_name: u.status for u in users}
    active, _ = pages(
        ims.list_users_with_options,
        lambda m: ims_models.ListUsersRequest(max_items=1000, marker=m),
        lambda b: b.users.user if b.users and b.users.user else [])
    out["users_without_status"] = sorted(u.user_principal_name for u in active)

    groups, out["group_pages"] = pages(
        ims.list_groups_with_options,
        lambda m: ims_models.ListGroupsRequest(max_items=3, marker=m),
        lambda b: b.groups.group if b.groups and b.groups.group else [])
    out["groups"] = sorted(g.group_name for g in groups)
    members = []
    for g in groups:
        users_of, _ = pages(
            ims.list_users_for_group_with_options,
            lambda m, name=g.group_name: ims_models.ListUsersForGroupRequest(group_name=name, max_items=5, marker=m),
            lambda b: b.users.user if b.users and b.users.user else [])
        members.extend([g.group_name, u.user_principal_name] for u in users_of)
    out["members"] = sorted(members)

    roles, out["role_pages"] = pages(
        ram.list_roles_with_options,
        lambda m: ram_models.ListRolesRequest(max_items=2, marker=m),
        lambda b: b.roles.role if b.roles and b.roles.role else [])
    out["roles"] = sorted(r.role_name for r in roles)
    policies, out["policy_pages"] = pages(
        ram.list_policies_with_options,
        lambda m: ram_models.ListPoliciesRequest(max_items=5, marker=m),
        lambda b: b.policies.policy if b.policies and b.policies.policy else [])
    out["policies"] = sorted([p.policy_name, p.policy_type] for p in policies)
    # The default version's document of each attached policy, by GetPolicy and GetPolicyVersion.
    out["policy_documents"] = {}
    for p in policies:
        if not p.attachment_count:
            continue
        got = ram.get_policy_with_options(
            ram_models.GetPolicyRequest(policy_name=p.policy_name, policy_type=p.policy_type), RUNTIME).body
        version = ram.get_policy_version_with_options(
            ram_models.GetPolicyVersionRequest(policy_name=p.policy_name, policy_type=p.policy_type,
                                               version_id=got.default_policy_version.version_id),
            RUNTIME).body.policy_version
        out["policy_documents"][p.policy_name] = {
            "document": got.default_policy_version.policy_document,
            "version": version.version_id,
            "is_default": version.is_default_version,
            "version_document": version.policy_document,
        }

    ram_keys, ims_keys, profiles, no_profile = [], [], {}, []
    for u in users:
        upn = u.user_principal_name
        body = ram.list_access_keys_with_options(
            ram_models.ListAccessKeysRequest(user_name=upn.split("@")[0]), RUNTIME).body
        ram_keys.extend([upn, k.access_key_id, k.status, k.create_date]
                        for k in (body.access_keys.access_key if body.access_keys and body.access_keys.access_key else []))
        body = ims.list_access_keys_with_options(
            ims_models.ListAccessKeysRequest(user_principal_name=upn), RUNTIME).body
        ims_keys.extend([upn, k.access_key_id, k.status, k.create_date]
                        for k in (body.access_keys.access_key if body.access_keys and body.access_keys.access_key else []))
        try:
            p = ims.get_login_profile_with_options(
                ims_models.GetLoginProfileRequest(user_principal_name=upn), RUNTIME).body.login_profile
            assert p.user_principal_name == upn, p.user_principal_name
            profiles[upn] = {"status": p.status, "password_reset_required": p.password_reset_required,
                             "mfa_bind_required": p.mfabind_required}
        except Exception as e:
            if getattr(e, "code", None) != "EntityNotExist.User.LoginProfile":
                raise
            no_profile.append(upn)
    out["access_keys"] = sorted(ram_keys)
    out["ims_access_keys"] = sorted(ims_keys)
    out["login_profiles"] = profiles
    out["no_login_profile"] = sorted(no_profile)
    own = ram.list_access_keys_with_options(ram_models.ListAccessKeysRequest(), RUNTIME).body
    out["own_access_keys"] = sorted(k.access_key_id for k in own.access_keys.access_key)
    devices, out["mfa_pages"] = pages(
        ims.list_virtual_mfadevices_with_options,
        lambda m: ims_models.ListVirtualMFADevicesRequest(max_items=10, marker=m),
        lambda b: b.virtual_mfadevices.virtual_mfadevice if b.virtual_mfadevices and b.virtual_mfadevices.virtual_mfadevice else [])
    out["mfa_devices"] = sorted([d.serial_number, d.user.user_principal_name if d.user else None] for d in devices)

    # The credential report: generate, poll until COMPLETED, then page it (2 rows a page).
    states = [ims.generate_credential_report_with_options(RUNTIME).body.state]
    deadline = time.monotonic() + 30
    while states[-1] != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
        states.append(ims.generate_credential_report_with_options(RUNTIME).body.state)
    out["report_states"] = sorted(set(states))
    rows, token, report_pages, generated = [], None, 0, set()
    while True:
        body = ims.get_credential_report_with_options(
            ims_models.GetCredentialReportRequest(max_items=25, next_token=token), RUNTIME).body
        report_pages += 1
        generated.add(body.generated_time)
        reader = csv.DictReader(io.StringIO(base64.b64decode(body.content).decode()))
        rows.extend(reader)
        if not body.is_truncated:
            break
        token = body.next_token
    out["report_pages"] = report_pages
    out["report_generated_times"] = len(generated)
    out["report_columns"] = list(rows[0].keys())
    out["report"] = {r["user"]: r for r in rows}
    out["access_key_last_used"] = {}
    for upn, key_id, _, _ in ims_keys:
        used = ims.get_access_key_last_used_with_options(
            ims_models.GetAccessKeyLastUsedRequest(user_principal_name=upn, user_access_key_id=key_id),
            RUNTIME).body.access_key_last_used
        out["access_key_last_used"][key_id] = used.last_used_date if used else None

    # The account's settings, through the SDK's models (to_map keeps only the fields they know).
    out["password_policy"] = ims.get_password_policy_with_options(RUNTIME).body.password_policy.to_map()
    out["security_preference"] = ims.get_security_preference_with_options(RUNTIME).body.security_preference.to_map()

    out["account_id"] = sts.get_caller_identity_with_options(RUNTIME).body.account_id
    out["alias"] = ram.get_account_alias_with_options(RUNTIME).body.account_alias

    out["errors"] = {
        "wrong_secret": error_code(lambda: Ims(config(sk="wrong-secret")).list_groups_with_options(ims_models.ListGroupsRequest(), RUNTIME)),
        "unknown_key": error_code(lambda: Ram(config(ak="LTAInotakey")).list_roles_with_options(ram_models.ListRolesRequest(), RUNTIME)),
        "max_items_too_large": error_code(lambda: ims.list_groups_with_options(ims_models.ListGroupsRequest(max_items=101), RUNTIME)),
        "mfa_max_items_too_large": error_code(lambda: ims.list_virtual_mfadevices_with_options(ims_models.ListVirtualMFADevicesRequest(max_items=101), RUNTIME)),
        "unknown_user_keys": error_code(lambda: ram.list_access_keys_with_options(ram_models.ListAccessKeysRequest(user_name="no-such-user"), RUNTIME)),
        "unknown_policy_version": error_code(lambda: ram.get_policy_version_with_options(ram_models.GetPolicyVersionRequest(policy_name="AdministratorAccess", policy_type="System", version_id="v99"), RUNTIME)),
        "unknown_group": error_code(lambda: ims.list_users_for_group_with_options(ims_models.ListUsersForGroupRequest(group_name="no-such-group"), RUNTIME)),
    }
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out["raw"] = {
        "fresh": raw_call("ListGroups", "2019-08-15", {"MaxItems": "2"})[0],
        "stale_date": raw_call("ListGroups", "2019-08-15", {}, date=stale)[1].get("Code"),
        "reused_nonce": raw_call("ListGroups", "2019-08-15", {}, replay=True)[1].get("Code"),
        "unsigned": raw_call("ListGroups", "2019-08-15", {}, sign=False)[1].get("Code"),
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
