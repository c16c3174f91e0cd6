//! STS as the local API serves it: AssumeRole against each role's trust policy.

use crate::api::Params;
use crate::failure::ApiFailure;
use crate::keys::{Identity, MockKey};
use crate::tenant::Tenant;
use serde_json::{Value, json};

/// STS AssumeRole of a role of `t`, by a caller of `home` (the same tenant, or the
/// management account reaching a member account): the caller must be trusted by the
/// role's trust policy, with its ExternalId condition met; it gets temporary credentials
/// for the role, acting in `t`.
pub(crate) fn assume_role(
    t: &Tenant,
    home: &Tenant,
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
        &caller.trust_arn(home),
        caller.account(home),
        p.get("ExternalId"),
    ) {
        let mut f = ApiFailure::new(
            403,
            "NoPermission",
            "You are not authorized to do this action. You should be authorized by RAM.",
        );
        f.access_denied = Some(json!({
            "AuthAction": "sts:AssumeRole",
            "AuthPrincipalDisplayName": caller.arn(home),
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
        identity: Identity::AssumedRole {
            role: role.name.clone(),
            session: session.to_string(),
        },
        account_id: Some(t.account_id.clone()),
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
