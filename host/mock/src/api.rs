//! The RAM, IMS and STS actions the local API serves, with the response shapes of the
//! official SDK models, the real paging limits and opaque markers.

use super::tenant::{Principal, Tenant};
use super::{ApiFailure, MockKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::HashMap;

pub const RAM: &str = "2015-05-01";
pub const IMS: &str = "2019-08-15";
pub const STS: &str = "2015-04-01";

/// The parameters of one call.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs.into_iter().collect())
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn required(&self, k: &str) -> Result<&str, ApiFailure> {
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
fn access_key_json(version: &str, k: &super::tenant::AccessKey) -> Value {
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
        super::Identity::User(name) => user_index(t, name),
        super::Identity::AssumedRole { .. } => Err(ApiFailure::new(
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
pub fn handle(
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
pub fn is_mutation(version: &str, action: &str) -> bool {
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
pub fn mutate(t: &mut Tenant, action: &str, p: &Params) -> Result<Value, ApiFailure> {
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
                    list.push(super::tenant::Attachment {
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

/// STS AssumeRole: the caller must be trusted by the role's trust policy, with its
/// ExternalId condition met; it gets temporary credentials for the role.
pub fn assume_role(
    t: &Tenant,
    caller: &MockKey,
    p: &Params,
    now: time::OffsetDateTime,
    lifetime_cap: Option<std::time::Duration>,
) -> Result<(Value, String, MockKey), ApiFailure> {
    let arn = p.required("RoleArn")?;
    let session = p.required("RoleSessionName")?;
    let duration: i64 = match p.get("DurationSeconds").filter(|d| !d.is_empty()) {
        None => 3600,
        Some(d) => d.parse().map_err(|_| {
            ApiFailure::new(
                400,
                "InvalidParameter.DurationSeconds",
                "DurationSeconds must be a number.",
            )
        })?,
    };
    let role = t
        .roles
        .iter()
        .find(|r| r.arn.eq_ignore_ascii_case(arn))
        .ok_or_else(|| {
            ApiFailure::new(
                404,
                "EntityNotExist.Role",
                &format!("The role does not exist: {arn}."),
            )
        })?;
    if duration < 900 || duration > role.max_session_duration as i64 {
        return Err(ApiFailure::new(
            400,
            "InvalidParameter.DurationSeconds",
            &format!(
                "DurationSeconds must be between 900 and the role's MaxSessionDuration {}.",
                role.max_session_duration
            ),
        ));
    }
    if !trusts(
        &role.trust_policy,
        &caller.trust_arn(t),
        caller.account(t),
        p.get("ExternalId"),
    ) {
        let mut f = ApiFailure::new(
            403,
            "NoPermission",
            "You are not authorized to do this action. You should be authorized by RAM.",
        );
        f.access_denied = Some(json!({
            "AuthAction": "sts:AssumeRole",
            "AuthPrincipalDisplayName": caller.arn(t),
            "NoPermissionType": "ImplicitDeny",
            "PolicyType": "AssumeRolePolicy",
        }));
        return Err(f);
    }
    let random = |n: usize| -> String {
        let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
        hex::encode(bytes)
    };
    let id = format!("STS.{}", random(12));
    let secret = random(20);
    let token = format!("CAIS{}", random(40));
    let mut lifetime = time::Duration::seconds(duration);
    if let Some(cap) = lifetime_cap {
        lifetime = lifetime.min(time::Duration::try_from(cap).unwrap_or(lifetime));
    }
    let expires = now + lifetime;
    let expiration = expires
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let issued = MockKey {
        secret: ramsync_credentials::Secret::new(&secret),
        security_token: Some(ramsync_credentials::Secret::new(&token)),
        expires_at: Some(expires),
        identity: super::Identity::AssumedRole {
            role: role.name.clone(),
            session: session.to_string(),
        },
        account_id: None,
    };
    let body = json!({
        "Credentials": { "AccessKeyId": id, "AccessKeySecret": secret, "SecurityToken": token, "Expiration": expiration },
        "AssumedRoleUser": {
            "Arn": format!("acs:ram::{}:assumed-role/{}/{session}", t.account_id, role.name.to_ascii_lowercase()),
            "AssumedRoleId": format!("{}:{session}", role.id),
        },
    });
    Ok((body, id, issued))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a trust policy lets `caller` (its principal ARN, in `account`) assume the role.
/// Deny wins; an `sts:ExternalId` condition must match; MFA and source-IP conditions cannot
/// be met by an API call and refuse.
fn trusts(document: &str, caller: &str, account: &str, external_id: Option<&str>) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return false,
    };
    let root = format!("acs:ram::{account}:root");
    let mut allowed = false;
    for st in &statements {
        let actions = strings(st.get("Action"));
        if !actions
            .iter()
            .any(|a| a.eq_ignore_ascii_case("sts:AssumeRole") || a == "sts:*" || a == "*")
        {
            continue;
        }
        let named = match st.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(Value::Object(m)) => strings(m.get("RAM"))
                .iter()
                .any(|p| p == "*" || p.eq_ignore_ascii_case(caller) || *p == root),
            _ => false,
        };
        if !named {
            continue;
        }
        let mut conditions_met = true;
        if let Some(Value::Object(ops)) = st.get("Condition") {
            for (_, entries) in ops {
                let Value::Object(entries) = entries else {
                    continue;
                };
                for (key, value) in entries {
                    conditions_met &= match key.to_ascii_lowercase().as_str() {
                        "sts:externalid" => {
                            external_id.is_some_and(|e| strings(Some(value)).iter().any(|v| v == e))
                        }
                        _ => false,
                    };
                }
            }
        }
        match st.get("Effect").and_then(Value::as_str) {
            Some("Deny") if conditions_met => return false,
            Some("Allow") if conditions_met => allowed = true,
            _ => {}
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        t: &Tenant,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ApiFailure> {
        let caller = MockKey::user("s", "reader");
        let params = Params::new(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        handle(t, &caller, version, action, &params)
    }

    fn tiny() -> Tenant {
        Tenant::from_json(
            r#"{"account_id":"1111222233334444","alias":"tiny","users":[
              {"name":"reader","display_name":"R","access_keys":[{"id":"LTAIreader","created":"recent"}]},
              {"name":"ann","display_name":"Ann","console":{"mfa_bind_required":true},
               "mfa_device":{"serial":"acs:ram::1111222233334444:mfa/ann","activated":"2024-02-03T04:05:06Z"},
               "access_keys":[{"id":"LTAIold","created":"2023-01-02T03:04:05Z"},{"id":"LTAIoff","status":"Inactive","created":"2024-01-01T00:00:00Z"}]},
              {"name":"bo","display_name":"Bo","status":"frozen","console":{"status":"Inactive","password_reset_required":true}}],
             "unbound_mfa_devices":["acs:ram::1111222233334444:mfa/spare"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn access_keys_by_user_name_and_principal_name_without_secrets() {
        let t = tiny();
        let ram = call(&t, RAM, "ListAccessKeys", &[("UserName", "ann")]).unwrap();
        assert_eq!(
            ram["AccessKeys"]["AccessKey"],
            json!([
                {"AccessKeyId": "LTAIold", "Status": "Active", "CreateDate": "2023-01-02T03:04:05Z"},
                {"AccessKeyId": "LTAIoff", "Status": "Inactive", "CreateDate": "2024-01-01T00:00:00Z"},
            ])
        );
        let ims = call(
            &t,
            IMS,
            "ListAccessKeys",
            &[("UserPrincipalName", "ann@tiny.onaliyun.com")],
        )
        .unwrap();
        assert_eq!(
            ims["AccessKeys"]["AccessKey"][0]["UpdateDate"],
            "2023-01-02T03:04:05Z"
        );
        assert!(!ims.to_string().to_lowercase().contains("secret"));
        // No user named: the caller's own keys; a recent key is ten days old.
        let own = call(&t, RAM, "ListAccessKeys", &[]).unwrap();
        assert_eq!(
            own["AccessKeys"]["AccessKey"][0]["AccessKeyId"],
            "LTAIreader"
        );
        let created = time::OffsetDateTime::parse(
            own["AccessKeys"]["AccessKey"][0]["CreateDate"]
                .as_str()
                .unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let age = time::OffsetDateTime::now_utc() - created;
        assert!(
            age >= time::Duration::days(10) && age < time::Duration::days(11),
            "{age}"
        );
        let e = call(&t, RAM, "ListAccessKeys", &[("UserName", "nobody")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "EntityNotExist.User"));
        let bo = call(&t, RAM, "ListAccessKeys", &[("UserName", "bo")]).unwrap();
        assert_eq!(bo["AccessKeys"]["AccessKey"], json!([]));
    }

    #[test]
    fn login_profiles_and_their_absence() {
        let t = tiny();
        let ann = call(
            &t,
            IMS,
            "GetLoginProfile",
            &[("UserPrincipalName", "ann@tiny.onaliyun.com")],
        )
        .unwrap();
        let lp = &ann["LoginProfile"];
        assert_eq!(lp["Status"], "Active");
        assert_eq!(lp["MFABindRequired"], true);
        assert_eq!(lp["PasswordResetRequired"], false);
        assert_eq!(lp["UserPrincipalName"], "ann@tiny.onaliyun.com");
        let bo = call(
            &t,
            IMS,
            "GetLoginProfile",
            &[("UserPrincipalName", "bo@tiny.onaliyun.com")],
        )
        .unwrap();
        assert_eq!(bo["LoginProfile"]["Status"], "Inactive");
        assert_eq!(bo["LoginProfile"]["PasswordResetRequired"], true);
        let e = call(
            &t,
            IMS,
            "GetLoginProfile",
            &[("UserPrincipalName", "reader@tiny.onaliyun.com")],
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (404, "EntityNotExist.User.LoginProfile")
        );
        let e = call(
            &t,
            IMS,
            "GetLoginProfile",
            &[("UserPrincipalName", "x@tiny.onaliyun.com")],
        )
        .unwrap_err();
        assert_eq!(e.code, "EntityNotExist.User");
        let e = call(&t, IMS, "GetLoginProfile", &[]).unwrap_err();
        assert_eq!(e.code, "MissingParameter.UserPrincipalName");
    }

    #[test]
    fn mfa_devices_page_at_most_100_and_include_unbound_ones() {
        let t = tiny();
        let all = call(&t, IMS, "ListVirtualMFADevices", &[]).unwrap();
        assert_eq!(all["IsTruncated"], false);
        let devices = all["VirtualMFADevices"]["VirtualMFADevice"]
            .as_array()
            .unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(
            devices[0]["User"]["UserPrincipalName"],
            "ann@tiny.onaliyun.com"
        );
        assert_eq!(devices[0]["ActivateDate"], "2024-02-03T04:05:06Z");
        assert_eq!(devices[1]["User"], json!({}));
        let first = call(&t, IMS, "ListVirtualMFADevices", &[("MaxItems", "1")]).unwrap();
        assert_eq!(first["IsTruncated"], true);
        let marker = first["Marker"].as_str().unwrap();
        let second = call(
            &t,
            IMS,
            "ListVirtualMFADevices",
            &[("MaxItems", "1"), ("Marker", marker)],
        )
        .unwrap();
        assert_eq!(second["IsTruncated"], false);
        assert_eq!(
            second["VirtualMFADevices"]["VirtualMFADevice"][0]["SerialNumber"],
            "acs:ram::1111222233334444:mfa/spare"
        );
        let e = call(&t, IMS, "ListVirtualMFADevices", &[("MaxItems", "101")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameter.MaxItems");
        let big = Tenant::synthetic("users=400,groups=1,roles=0,policies=0").unwrap();
        let with_device = big.users.iter().filter(|u| u.mfa_device.is_some()).count();
        assert!(with_device > 200, "{with_device}");
        let page = call(&big, IMS, "ListVirtualMFADevices", &[]).unwrap();
        assert_eq!(
            page["VirtualMFADevices"]["VirtualMFADevice"]
                .as_array()
                .unwrap()
                .len(),
            100
        );
        assert_eq!(page["IsTruncated"], true);
    }

    #[test]
    fn markers_need_encoding_and_are_scoped() {
        let m = encode_marker("ListUsers:active", 1000);
        assert!(m.contains('+') && m.contains('/'), "{m}");
        assert_eq!(decode_marker("ListUsers:active", &m), Some(1000));
        assert_eq!(decode_marker("ListUsers:freeze", &m), None);
        assert_eq!(decode_marker("ListUsers:active", "not a marker"), None);
    }
}
