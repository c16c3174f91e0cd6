"""Points the official Resource Manager, STS and IMS SDK clients at the local API's Resource
Directory and prints what they read.

Usage: sdk_directory.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET

Reads the directory (GetResourceDirectory), its folders from the root (ListFoldersForParent,
one folder a page so that paging is exercised), its accounts (ListAccounts, two a page, and
ListAccountsForParent per folder), the error for an unknown folder, then assumes
ResourceDirectoryAccountAccessRole in every member account through STS and reads, as that
role, the caller identity, the password policy and the users there. Prints one JSON object.
"""
import json
import sys

from alibabacloud_ims20190815 import models as ims_models
from alibabacloud_ims20190815.client import Client as Ims
from alibabacloud_resourcemanager20200331 import models as rm_models
from alibabacloud_resourcemanager20200331.client import Client as ResourceManager
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as Sts
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

ENDPOINT, AK, SK = sys.argv[1], sys.argv[2], sys.argv[3]
RUNTIME = RuntimeOptions(autoretry=False)


def config(ak=AK, sk=SK, token=None):
    return Config(access_key_id=ak, access_key_secret=sk, security_token=token, endpoint=ENDPOINT, protocol="http")


def numbered(call, make_request, items_of):
    """Follows PageNumber until TotalCount items are read; returns the items and the page count."""
    items, page = [], 0
    while True:
        page += 1
        body = call(make_request(page), RUNTIME).body
        got = items_of(body)
        items.extend(got)
        assert body.page_number == page, (body.page_number, page)
        if not got or len(items) >= body.total_count:
            return items, page


def error_code(fn):
    try:
        fn()
    except Exception as e:
        return getattr(e, "code", None) or type(e).__name__
    return None


def main():
    rm, sts = ResourceManager(config()), Sts(config())
    out = {}
    rd = rm.get_resource_directory_with_options(RUNTIME).body.resource_directory
    out["directory"] = rd.to_map()
    folders, folder_pages, queue = {}, 0, [(rd.root_folder_id, "/")]
    while queue:
        parent, path = queue.pop()
        children, n = numbered(
            rm.list_folders_for_parent_with_options,
            lambda p: rm_models.ListFoldersForParentRequest(parent_folder_id=parent, page_number=p, page_size=1),
            lambda b: b.folders.folder if b.folders and b.folders.folder else [])
        folder_pages += n
        for f in children:
            child = (path if path != "/" else "") + "/" + f.folder_name
            folders[f.folder_id] = child
            queue.append((f.folder_id, child))
    folders[rd.root_folder_id] = "/"
    out["folders"] = folders
    out["folder_pages"] = folder_pages
    accounts, account_pages = numbered(
        rm.list_accounts_with_options,
        lambda p: rm_models.ListAccountsRequest(page_number=p, page_size=2),
        lambda b: b.accounts.account if b.accounts and b.accounts.account else [])
    out["account_pages"] = account_pages
    out["accounts"] = {a.account_id: {"display_name": a.display_name, "folder": folders[a.folder_id],
                                      "type": a.type, "status": a.status, "join_method": a.join_method,
                                      "path": a.resource_directory_path} for a in accounts}
    by_parent = {}
    for folder_id in folders:
        listed, _ = numbered(
            rm.list_accounts_for_parent_with_options,
            lambda p: rm_models.ListAccountsForParentRequest(parent_folder_id=folder_id, page_number=p, page_size=10),
            lambda b: b.accounts.account if b.accounts and b.accounts.account else [])
        by_parent[folders[folder_id]] = sorted(a.account_id for a in listed)
    out["accounts_by_folder"] = by_parent
    out["unknown_folder"] = error_code(lambda: rm.list_folders_for_parent_with_options(
        rm_models.ListFoldersForParentRequest(parent_folder_id="fd-none"), RUNTIME))
    out["page_size_too_large"] = error_code(lambda: rm.list_accounts_with_options(
        rm_models.ListAccountsRequest(page_size=101), RUNTIME))

    members = {}
    for a in accounts:
        if a.account_id == rd.master_account_id:
            continue
        arn = "acs:ram::%s:role/resourcedirectoryaccountaccessrole" % a.account_id
        try:
            c = sts.assume_role_with_options(sts_models.AssumeRoleRequest(
                role_arn=arn, role_session_name="sdk", duration_seconds=900), RUNTIME).body.credentials
        except Exception as e:
            members[a.account_id] = {"error": getattr(e, "code", type(e).__name__)}
            continue
        member = config(c.access_key_id, c.access_key_secret, c.security_token)
        who = Sts(member).get_caller_identity_with_options(RUNTIME).body
        ims = Ims(member)
        users = ims.list_users_with_options(ims_models.ListUsersRequest(max_items=100), RUNTIME).body
        members[a.account_id] = {
            "caller_account": who.account_id,
            "caller_arn": who.arn,
            "password_policy": ims.get_password_policy_with_options(RUNTIME).body.password_policy.to_map(),
            "users": sorted(u.user_principal_name for u in users.users.user) if users.users and users.users.user else [],
            "directory_from_member": error_code(lambda: ResourceManager(member).list_accounts_with_options(
                rm_models.ListAccountsRequest(), RUNTIME)),
        }
    out["members"] = members
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
