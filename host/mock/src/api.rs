//! The RAM, IMS and STS actions the local API serves, with the response shapes of the
//! official SDK models, the real paging limits and opaque markers.

use crate::failure::ApiFailure;
use crate::keys::{Identity, MockKey};
use crate::tenant::{AccessKey, Attachment, Principal, Tenant};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(crate) const RAM: &str = "2015-05-01";
pub(crate) const IMS: &str = "2019-08-15";
pub(crate) const STS: &str = "2015-04-01";

/// The parameters of one call.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs.into_iter().collect())
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    pub(crate) fn required(&self, k: &str) -> Result<&str, ApiFailure> {
        self.get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiFailure::new(
                400,
                &format!("MissingParameter.{k}"),
                &format!("{k} is mandatory for this action."),
            )
        })
    }
}

/// Paging limits of a list action: (min, max, default).
fn max_items_range(version: &str, action: &str) -> (u32, u32, u32) {
    match (version, action) {
        (IMS, "ListUsers") => (1, 1000, 1000),
        (_, "ListGroups") | (IMS, "ListUsersForGroup") | (IMS, "ListVirtualMFADevices") => {
            (1, 100, 100)
        }
        _ => (1, 1000, 100),
    }
}

/// Bytes that make the base64 form start with `+/+/`, so markers always need encoding.
const MARKER_PREFIX: [u8; 3] = [0xfb, 0xff, 0xbf];

fn encode_marker(scope: &str, offset: usize) -> String {
    let mut bytes = MARKER_PREFIX.to_vec();
    bytes.extend_from_slice(format!("{scope}|{offset}").as_bytes());
    STANDARD.encode(bytes)
}

fn decode_marker(scope: &str, marker: &str) -> Option<usize> {
    let bytes = STANDARD.decode(marker).ok()?;
    let rest = bytes.strip_prefix(&MARKER_PREFIX)?;
    let text = std::str::from_utf8(rest).ok()?;
    let (s, offset) = text.rsplit_once('|')?;
    (s == scope).then(|| offset.parse().ok()).flatten()
}

/// One page of `items`, wrapped as `{outer: {inner: [...]}}` with `IsTruncated` and `Marker`.
fn paged(
    version: &str,
    action: &str,
    scope: &str,
    params: &Params,
    total: usize,
    item: impl Fn(usize) -> Value,
    (outer, inner): (&str, &str),
) -> Result<Value, ApiFailure> {
    let (min, max, default) = max_items_range(version, action);
    let max_items = match params.get("MaxItems") {
        None | Some("") => default,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                return Err(ApiFailure::new(
                    400,
                    "InvalidParameter.MaxItems",
                    &format!("The parameter MaxItems must be between {min} and {max}, got {v:?}."),
                ));
            }
        },
    } as usize;
    let scope = format!("{action}:{scope}");
    let start = match params.get("Marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => decode_marker(&scope, m)
            .filter(|&o| o <= total)
            .ok_or_else(|| {
                ApiFailure::new(
                    400,
                    "InvalidParameter.Marker",
                    "The specified parameter Marker is not valid.",
                )
            })?,
    };
    let end = (start + max_items).min(total);
    let items: Vec<Value> = (start..end).map(item).collect();
    let mut body = json!({ "IsTruncated": end < total, outer: { inner: items } });
    if end < total {
        body["Marker"] = json!(encode_marker(&scope, end));
    }
    Ok(body)
}

fn user_json(t: &Tenant, i: usize) -> Value {
    let u = &t.users[i];
    json!({
        "UserId": u.id,
        "UserPrincipalName": u.principal_name,
        "DisplayName": u.display_name,
        "Email": u.email,
        "MobilePhone": u.mobile_phone,
        "Comments": u.comments,
        "CreateDate": u.create_date,
        "UpdateDate": u.create_date,
        "LastLoginDate": u.last_login_date,
        "Status": if u.frozen { "freeze" } else { "active" },
        "ProvisionType": "Manual",
        "Tags": { "Tag": [] },
    })
}

fn group_json(t: &Tenant, i: usize) -> Value {
    let g = &t.groups[i];
    json!({
        "GroupId": g.id,
        "GroupName": g.name,
        "DisplayName": g.display_name,
        "Comments": g.comments,
        "CreateDate": g.create_date,
        "UpdateDate": g.create_date,
    })
}

fn role_json(t: &Tenant, i: usize, with_trust: bool) -> Value {
    let r = &t.roles[i];
    let mut v = json!({
        "RoleId": r.id,
        "RoleName": r.name,
        "Arn": r.arn,
        "Description": r.description,
        "MaxSessionDuration": r.max_session_duration,
        "CreateDate": r.create_date,
        "UpdateDate": r.create_date,
        "Tags": { "Tag": [] },
    });
    if with_trust {
        v["AssumeRolePolicyDocument"] = json!(r.trust_policy);
    }
    v
}

fn policy_json(t: &Tenant, i: usize) -> Value {
    let p = &t.policies[i];
    json!({
        "PolicyName": p.name,
        "PolicyType": p.policy_type,
        "Description": p.description,
        "DefaultVersion": "v1",
        "AttachmentCount": t.attachments[i].len(),
        "CreateDate": p.create_date,
        "UpdateDate": p.create_date,
        "Tags": { "Tag": [] },
    })
}

/// One AccessKey as RAM or IMS ListAccessKeys shows it: no secret, which only CreateAccessKey
/// ever returns.
fn access_key_json(version: &str, k: &AccessKey) -> Value {
    let mut v = json!({
        "AccessKeyId": k.id,
        "Status": k.status,
        "CreateDate": k.create_date,
    });
    if version == IMS {
        v["UpdateDate"] = json!(k.create_date);
    }
    v
}

/// The user a per-user IMS call names by `UserPrincipalName`.
fn user_by_principal_name(t: &Tenant, p: &Params) -> Result<usize, ApiFailure> {
    let upn = p.required("UserPrincipalName")?;
    t.user_by_principal_name.get(upn).copied().ok_or_else(|| {
        ApiFailure::new(
            404,
            "EntityNotExist.User",
            &format!("The user does not exist: {upn}."),
        )
    })
}

/// The caller's own user, for the calls that default to it when no user is named.
fn caller_user(t: &Tenant, caller: &MockKey, param: &str) -> Result<usize, ApiFailure> {
    match &caller.identity {
        Identity::User(name) => user_index(t, name),
        Identity::AssumedRole { .. } => Err(ApiFailure::new(
            400,
            &format!("MissingParameter.{param}"),
            &format!("{param} is mandatory when the caller is not a RAM user."),
        )),
    }
}

/// The policy named by `PolicyName` and `PolicyType`; names are unique only within a type.
fn policy_index(t: &Tenant, p: &Params) -> Result<usize, ApiFailure> {
    let name = p.required("PolicyName")?;
    let kind = p.required("PolicyType")?;
    t.policies
        .iter()
        .position(|x| x.name == name && x.policy_type == kind)
        .ok_or_else(|| {
            ApiFailure::new(
                404,
                "EntityNotExist.Policy",
                &format!("The policy does not exist: {name}."),
            )
        })
}

fn group_index(t: &Tenant, name: &str) -> Result<usize, ApiFailure> {
    t.group_by_name.get(name).copied().ok_or_else(|| {
        ApiFailure::new(
            404,
            "EntityNotExist.Group",
            &format!("The group does not exist: {name}."),
        )
    })
}

/// Serves one verified call.
pub(crate) fn handle(
    t: &Tenant,
    caller: &MockKey,
    version: &str,
    action: &str,
    p: &Params,
) -> Result<Value, ApiFailure> {
    match (version, action) {
        (IMS, "ListUsers") => {
            let (active, frozen) = match p.get("Status") {
                None | Some("") | Some("active") => (true, false),
                Some("freeze") => (false, true),
                Some("active,freeze") | Some("freeze,active") => (true, true),
                Some(other) => {
                    return Err(ApiFailure::new(
                        400,
                        "InvalidParameter.Status",
                        &format!("The parameter Status is invalid: {other:?}."),
                    ));
                }
            };
            let picked: Vec<usize> = (0..t.users.len())
                .filter(|&i| if t.users[i].frozen { frozen } else { active })
                .collect();
            let scope = p.get("Status").unwrap_or("active");
            paged(
                version,
                action,
                scope,
                p,
                picked.len(),
                |i| user_json(t, picked[i]),
                ("Users", "User"),
            )
        }
        (IMS, "ListGroups") | (RAM, "ListGroups") => paged(
            version,
            action,
            "",
            p,
            t.groups.len(),
            |i| group_json(t, i),
            ("Groups", "Group"),
        ),
        (IMS, "ListUsersForGroup") | (RAM, "ListUsersForGroup") => {
            let gi = group_index(t, p.required("GroupName")?)?;
            let g = &t.groups[gi];
            paged(
                version,
                action,
                &g.name,
                p,
                g.members.len(),
                |i| {
                    let (ui, joined) = &g.members[i];
                    let u = &t.users[*ui];
                    if version == IMS {
                        json!({"UserId": u.id, "UserPrincipalName": u.principal_name, "DisplayName": u.display_name, "JoinDate": joined})
                    } else {
                        json!({"UserName": u.name, "DisplayName": u.display_name, "JoinDate": joined})
                    }
                },
                ("Users", "User"),
            )
        }
        (RAM, "ListRoles") => paged(
            version,
            action,
            "",
            p,
            t.roles.len(),
            |i| role_json(t, i, false),
            ("Roles", "Role"),
        ),
        (RAM, "GetRole") => {
            let name = p.required("RoleName")?;
            let &ri = t.role_by_name.get(name).ok_or_else(|| {
                ApiFailure::new(
                    404,
                    "EntityNotExist.Role",
                    &format!("The role does not exist: {name}."),
                )
            })?;
            Ok(json!({ "Role": role_json(t, ri, true) }))
        }
        (RAM, "ListPolicies") => {
            let kind = p.get("PolicyType").filter(|v| !v.is_empty());
            if let Some(k) = kind
                && k != "System"
                && k != "Custom"
            {
                return Err(ApiFailure::new(
                    400,
                    "InvalidParameter.PolicyType",
                    &format!("The parameter PolicyType is invalid: {k:?}."),
                ));
            }
            let picked: Vec<usize> = (0..t.policies.len())
                .filter(|&i| kind.is_none_or(|k| t.policies[i].policy_type == k))
                .collect();
            paged(
                version,
                action,
                kind.unwrap_or("All"),
                p,
                picked.len(),
                |i| policy_json(t, picked[i]),
                ("Policies", "Policy"),
            )
        }
        (RAM, "ListEntitiesForPolicy") => {
            let pi = policy_index(t, p)?;
            let (mut users, mut groups, mut roles) = (vec![], vec![], vec![]);
            for a in &t.attachments[pi] {
                match a.principal {
                    Principal::User(i) => users.push(json!({"UserId": t.users[i].id, "UserName": t.users[i].name, "DisplayName": t.users[i].display_name, "AttachDate": a.attach_date})),
                    Principal::Group(i) => groups.push(json!({"GroupName": t.groups[i].name, "Comments": t.groups[i].comments, "AttachDate": a.attach_date})),
                    Principal::Role(i) => roles.push(json!({"RoleId": t.roles[i].id, "RoleName": t.roles[i].name, "Arn": t.roles[i].arn, "Description": t.roles[i].description, "AttachDate": a.attach_date})),
                }
            }
            Ok(
                json!({"Users": {"User": users}, "Groups": {"Group": groups}, "Roles": {"Role": roles}}),
            )
        }
        (RAM, "GetPolicy") => {
            let pi = policy_index(t, p)?;
            let mut policy = policy_json(t, pi);
            policy["PolicyDocument"] = json!(t.policies[pi].document);
            Ok(json!({
                "Policy": policy,
                "DefaultPolicyVersion": {
                    "VersionId": "v1",
                    "IsDefaultVersion": true,
                    "CreateDate": t.policies[pi].create_date,
                    "PolicyDocument": t.policies[pi].document,
                },
            }))
        }
        (RAM, "GetPolicyVersion") => {
            // The local API keeps one version of each policy, v1, the default.
            let pi = policy_index(t, p)?;
            let version = p.required("VersionId")?;
            if version != "v1" {
                return Err(ApiFailure::new(
                    404,
                    "EntityNotExist.Policy.Version",
                    &format!(
                        "The policy version does not exist: {}, {version}.",
                        t.policies[pi].name
                    ),
                ));
            }
            Ok(json!({
                "PolicyVersion": {
                    "VersionId": "v1",
                    "IsDefaultVersion": true,
                    "CreateDate": t.policies[pi].create_date,
                    "PolicyDocument": t.policies[pi].document,
                },
            }))
        }
        (RAM, "ListAccessKeys") | (IMS, "ListAccessKeys") => {
            // Without a user named, the caller's own keys, as the real API answers.
            let (key, named) = if version == RAM {
                ("UserName", p.get("UserName"))
            } else {
                ("UserPrincipalName", p.get("UserPrincipalName"))
            };
            let ui = match named.filter(|v| !v.is_empty()) {
                None => caller_user(t, caller, key)?,
                Some(_) if version == RAM => user_index(t, p.required(key)?)?,
                Some(_) => user_by_principal_name(t, p)?,
            };
            let keys: Vec<Value> = t.users[ui]
                .access_keys
                .iter()
                .map(|k| access_key_json(version, k))
                .collect();
            Ok(json!({ "AccessKeys": { "AccessKey": keys } }))
        }
        (IMS, "GetAccessKeyLastUsed") => {
            let ui = user_by_principal_name(t, p)?;
            let id = p.required("UserAccessKeyId")?;
            let k = t.users[ui]
                .access_keys
                .iter()
                .find(|k| k.id == id)
                .ok_or_else(|| {
                    ApiFailure::new(
                        404,
                        "EntityNotExist.User.AccessKey",
                        &format!("The AccessKey does not exist: {id}."),
                    )
                })?;
            // A key that never signed anything has no LastUsedDate.
            let mut used = json!({});
            if let Some(date) = &k.last_used {
                used = json!({ "LastUsedDate": date, "ServiceName": "ram" });
            }
            Ok(json!({ "AccessKeyLastUsed": used }))
        }
        (IMS, "GetLoginProfile") => {
            let u = &t.users[user_by_principal_name(t, p)?];
            let Some(c) = &u.console else {
                return Err(ApiFailure::new(
                    404,
                    "EntityNotExist.User.LoginProfile",
                    &format!(
                        "The login profile of the user does not exist: {}.",
                        u.principal_name
                    ),
                ));
            };
            Ok(json!({ "LoginProfile": {
                "UserPrincipalName": u.principal_name,
                "Status": c.status,
                "PasswordResetRequired": c.password_reset_required,
                "MFABindRequired": c.mfa_bind_required,
                "UpdateDate": c.update_date,
                "LastLoginTime": u.last_login_date,
                "AutoDisableLoginStatus": "true",
                "PasswordStatus": "NotInitial",
            }}))
        }
        (IMS, "ListVirtualMFADevices") => {
            // Bound devices in user order, then those bound to nobody (an empty `User`).
            let bound: Vec<usize> = (0..t.users.len())
                .filter(|&i| t.users[i].mfa_device.is_some())
                .collect();
            paged(
                version,
                action,
                "",
                p,
                bound.len() + t.unbound_mfa_devices.len(),
                |i| match bound.get(i) {
                    Some(&ui) => {
                        let u = &t.users[ui];
                        let m = u.mfa_device.as_ref().expect("filtered above");
                        json!({
                            "SerialNumber": m.serial,
                            "ActivateDate": m.activate_date,
                            "User": {
                                "UserId": u.id,
                                "UserPrincipalName": u.principal_name,
                                "DisplayName": u.display_name,
                            },
                        })
                    }
                    None => json!({
                        "SerialNumber": t.unbound_mfa_devices[i - bound.len()],
                        "User": {},
                    }),
                },
                ("VirtualMFADevices", "VirtualMFADevice"),
            )
        }
        (RAM, "GetAccountAlias") => Ok(json!({ "AccountAlias": t.alias })),
        (IMS, "GetPasswordPolicy") => {
            let pp = &t.password_policy;
            Ok(json!({ "PasswordPolicy": {
                "MinimumPasswordLength": pp.minimum_password_length,
                "RequireUppercaseCharacters": pp.require_uppercase_characters,
                "RequireLowercaseCharacters": pp.require_lowercase_characters,
                "RequireNumbers": pp.require_numbers,
                "RequireSymbols": pp.require_symbols,
                "MaxPasswordAge": pp.max_password_age,
                "PasswordReusePrevention": pp.password_reuse_prevention,
                "MaxLoginAttemps": pp.max_login_attempts,
                "HardExpire": pp.hard_expire,
                "MinimumPasswordDifferentCharacter": pp.minimum_password_different_character,
                "PasswordNotContainUserName": pp.password_not_contain_user_name,
                "InitialPasswordAge": pp.initial_password_age,
                "InterceptRiskPasswordOnApi": false,
            }}))
        }
        (IMS, "GetSecurityPreference") => {
            let sp = &t.security_preference;
            Ok(json!({ "SecurityPreference": {
                "LoginProfilePreference": {
                    "EnableSaveMFATicket": sp.enable_save_mfa_ticket,
                    "LoginSessionDuration": sp.login_session_duration,
                    "LoginNetworkMasks": sp.login_network_masks,
                    "AllowUserToChangePassword": sp.allow_user_to_change_password,
                    "MFAOperationForLogin": sp.mfa_operation_for_login,
                    "OperationForRiskLogin": sp.operation_for_risk_login,
                    "AllowUserToLoginWithPasskey": true,
                },
                "AccessKeyPreference": {
                    "AllowUserToManageAccessKeys": sp.allow_user_to_manage_access_keys,
                    "AllowUserToManageServiceCredentials": false,
                },
                "MFAPreference": { "AllowUserToManageMFADevices": sp.allow_user_to_manage_mfa_devices },
                "PersonalInfoPreference": { "AllowUserToManagePersonalDingTalk": true },
                "MaxIdleDays": {
                    "MaxIdleDaysForUsers": sp.max_idle_days_for_users,
                    "MaxIdleDaysForAccessKeys": sp.max_idle_days_for_access_keys,
                },
                "VerificationPreference": { "VerificationTypes": ["sms", "email"] },
            }}))
        }
        (STS, "GetCallerIdentity") => Ok(json!({
            "AccountId": t.account_id,
            "Arn": caller.arn(t),
            "IdentityType": caller.identity_type(),
            "PrincipalId": caller.principal_id(t),
            "UserId": if caller.security_token.is_none() { caller.principal_id(t) } else { String::new() },
            "RoleId": "",
        })),
        _ => Err(ApiFailure::new(
            404,
            "InvalidAction.NotFound",
            &format!(
                "Specified api is not found, please check your url and method. Action {action:?} of version {version:?} is not served here."
            ),
        )),
    }
}

/// Whether an action changes the tenant.
pub(crate) fn is_mutation(version: &str, action: &str) -> bool {
    version == RAM
        && matches!(
            action,
            "AddUserToGroup"
                | "RemoveUserFromGroup"
                | "AttachPolicyToUser"
                | "AttachPolicyToGroup"
                | "AttachPolicyToRole"
                | "DetachPolicyFromUser"
                | "DetachPolicyFromGroup"
                | "DetachPolicyFromRole"
        )
}

fn user_index(t: &Tenant, name: &str) -> Result<usize, ApiFailure> {
    t.user_by_name.get(name).copied().ok_or_else(|| {
        ApiFailure::new(
            404,
            "EntityNotExist.User",
            &format!("The user does not exist: {name}."),
        )
    })
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// Serves one verified call that changes the tenant, with the real error codes.
pub(crate) fn mutate(t: &mut Tenant, action: &str, p: &Params) -> Result<Value, ApiFailure> {
    match action {
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let gi = group_index(t, p.required("GroupName")?)?;
            let ui = user_index(t, p.required("UserName")?)?;
            let members = &mut t.groups[gi].members;
            let at = members.iter().position(|(u, _)| *u == ui);
            match (action, at) {
                ("AddUserToGroup", Some(_)) => Err(ApiFailure::new(
                    409,
                    "EntityAlreadyExists.User.Group",
                    "The user has already belonged to the group.",
                )),
                ("AddUserToGroup", None) => {
                    members.push((ui, now()));
                    Ok(json!({}))
                }
                (_, Some(i)) => {
                    members.remove(i);
                    Ok(json!({}))
                }
                (_, None) => Err(ApiFailure::new(
                    404,
                    "EntityNotExist.User.Group",
                    "The user does not belong to the group.",
                )),
            }
        }
        _ => {
            let attach = action.starts_with("Attach");
            let kind = action
                .trim_start_matches("AttachPolicyTo")
                .trim_start_matches("DetachPolicyFrom");
            let pi = policy_index(t, p)?;
            let principal = match kind {
                "User" => Principal::User(user_index(t, p.required("UserName")?)?),
                "Group" => Principal::Group(group_index(t, p.required("GroupName")?)?),
                _ => {
                    let role = p.required("RoleName")?;
                    Principal::Role(t.role_by_name.get(role).copied().ok_or_else(|| {
                        ApiFailure::new(
                            404,
                            "EntityNotExist.Role",
                            &format!("The role does not exist: {role}."),
                        )
                    })?)
                }
            };
            let list = &mut t.attachments[pi];
            let at = list.iter().position(|a| a.principal == principal);
            match (attach, at) {
                (true, Some(_)) => Err(ApiFailure::new(
                    409,
                    &format!("EntityAlreadyExists.{kind}.Policy"),
                    &format!(
                        "The policy has already been attached to the {}.",
                        kind.to_lowercase()
                    ),
                )),
                (true, None) => {
                    list.push(Attachment {
                        principal,
                        attach_date: now(),
                    });
                    Ok(json!({}))
                }
                (false, Some(i)) => {
                    list.remove(i);
                    Ok(json!({}))
                }
                (false, None) => Err(ApiFailure::new(
                    404,
                    &format!("EntityNotExist.{kind}.Policy"),
                    &format!("The policy is not attached to the {}.", kind.to_lowercase()),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests;
