//! Reads RAM policy documents. A role's trust policy (`AssumeRolePolicyDocument`) says who
//! may assume the role and on what conditions; a permission policy may allow everything.
//! Pure code, so it is unit-tested natively and used by the syncers inside their components.

#![deny(missing_docs)]

use serde_json::Value;

/// What kind of principal a trust policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// One RAM user, `acs:ram::<id>:user/<name>`.
    User,
    /// One RAM role, `acs:ram::<id>:role/<name>`.
    Role,
    /// Any authorised identity of an account, `acs:ram::<id>:root`, or `*` for anyone.
    Account,
    /// A cloud service, for example `ecs.aliyuncs.com`.
    Service,
    /// A SAML or OIDC identity provider.
    IdentityProvider,
}

impl Kind {
    /// The principal type as ramsync stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Role => "role",
            Kind::Account => "account",
            Kind::Service => "service",
            Kind::IdentityProvider => "identity-provider",
        }
    }
}

/// The conditions of the statement that trusts a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// An `sts:ExternalId` condition is present. Its value is deliberately not kept.
    pub external_id_required: bool,
    /// `acs:MFAPresent` must be true.
    pub mfa_required: bool,
    /// `acs:SourceIp` ranges.
    pub source_ip: Vec<String>,
    /// Every condition key, sorted.
    pub keys: Vec<String>,
}

/// One principal an Allow statement trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    /// What kind of principal it is.
    pub kind: Kind,
    /// The principal as written in the policy.
    pub principal: String,
    /// The account the principal belongs to, when it has one (`*` for a wildcard).
    pub account_id: Option<String>,
    /// The user or role name, the service name, the provider ARN, or the account id.
    pub name: String,
    /// The principal belongs to another account than the role's.
    pub cross_account: bool,
    /// The conditions of the statement that trusts it.
    pub conditions: Conditions,
    /// A Deny statement with conditions also names this principal.
    pub conditionally_denied: bool,
}

/// Everything a trust policy says about who may assume the role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// The principals an Allow statement trusts, each once per statement.
    pub trusted: Vec<Trusted>,
    /// Principals a Deny statement without conditions excludes; they are not in `trusted`.
    pub denied: Vec<String>,
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("expected a string, got {i}"))
            })
            .collect(),
        other => Err(format!(
            "expected a string or a list of strings, got {other}"
        )),
    }
}

fn allows_assume_role(statement: &serde_json::Map<String, Value>) -> Result<bool, String> {
    let Some(action) = statement.get("Action") else {
        return Err("a statement has no Action".into());
    };
    Ok(strings(action)?.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "sts:assumerole" || a == "sts:*" || a == "*"
    }))
}

fn conditions(statement: &serde_json::Map<String, Value>) -> Result<Conditions, String> {
    let mut c = Conditions::default();
    let Some(condition) = statement.get("Condition") else {
        return Ok(c);
    };
    let Value::Object(operators) = condition else {
        return Err("Condition must be an object".into());
    };
    for (operator, entries) in operators {
        let Value::Object(entries) = entries else {
            return Err(format!("Condition {operator} must be an object"));
        };
        for (key, value) in entries {
            c.keys.push(key.clone());
            match key.to_ascii_lowercase().as_str() {
                "sts:externalid" => c.external_id_required = true,
                "acs:mfapresent" => {
                    c.mfa_required |= !operator.to_ascii_lowercase().contains("not")
                        && strings(value)
                            .unwrap_or_default()
                            .iter()
                            .any(|v| v.eq_ignore_ascii_case("true"))
                        || value == &Value::Bool(true);
                }
                "acs:sourceip" => c.source_ip.extend(strings(value)?),
                _ => {}
            }
        }
    }
    c.keys.sort();
    c.keys.dedup();
    Ok(c)
}

/// Parses `acs:ram::<account>:<kind>/<name>` and `acs:ram::<account>:root`.
fn parse_ram(principal: &str, own_account: &str) -> Result<(Kind, Option<String>, String), String> {
    if principal == "*" {
        return Ok((Kind::Account, Some("*".into()), "*".into()));
    }
    if !principal.contains(':')
        && principal.bytes().all(|b| b.is_ascii_digit())
        && !principal.is_empty()
    {
        return Ok((Kind::Account, Some(principal.into()), principal.into()));
    }
    let rest = principal
        .strip_prefix("acs:ram::")
        .ok_or_else(|| format!("unrecognised RAM principal {principal:?}"))?;
    let (account, resource) = rest
        .split_once(':')
        .ok_or_else(|| format!("unrecognised RAM principal {principal:?}"))?;
    let account = if account.is_empty() {
        own_account
    } else {
        account
    };
    if resource == "root" {
        return Ok((Kind::Account, Some(account.into()), account.into()));
    }
    let (kind, name) = resource
        .split_once('/')
        .ok_or_else(|| format!("unrecognised RAM principal {principal:?}"))?;
    let kind = match kind {
        "user" => Kind::User,
        "role" => Kind::Role,
        "saml-provider" | "oidc-provider" => Kind::IdentityProvider,
        other => {
            return Err(format!(
                "unrecognised principal kind {other:?} in {principal:?}"
            ));
        }
    };
    let name = if kind == Kind::IdentityProvider {
        principal.to_string()
    } else {
        name.to_string()
    };
    Ok((kind, Some(account.into()), name))
}

/// Whether a permission policy allows every action on every resource (`*` or `*:*`),
/// as AdministratorAccess does, and denies nothing.
pub fn allows_everything(document: &str) -> Result<bool, String> {
    let doc: Value =
        serde_json::from_str(document).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => return Err("the policy has no Statement".into()),
    };
    let denies = statements.iter().any(|s| {
        s.get("Effect")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("deny"))
    });
    if denies {
        return Ok(false);
    }
    for statement in &statements {
        let allow = statement
            .get("Effect")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("allow"));
        let all_actions = statement
            .get("Action")
            .map(strings)
            .transpose()?
            .unwrap_or_default()
            .iter()
            .any(|a| a == "*" || a == "*:*");
        let all_resources = statement
            .get("Resource")
            .map(strings)
            .transpose()?
            .unwrap_or_default()
            .iter()
            .any(|r| r == "*");
        if allow && all_actions && all_resources && statement.get("Condition").is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The document as it may be stored: each `sts:ExternalId` condition value replaced by
/// `(redacted)`, since an ExternalId is a shared secret and ramsync keeps none. A document
/// without one, or that is not JSON, is returned exactly as given.
pub fn without_external_ids(document: &str) -> String {
    fn redact(v: &mut Value) -> bool {
        match v {
            Value::Object(map) => {
                let mut changed = false;
                for (key, value) in map.iter_mut() {
                    if key.eq_ignore_ascii_case("sts:ExternalId") {
                        *value = Value::String("(redacted)".into());
                        changed = true;
                    } else {
                        changed |= redact(value);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, i| redact(i) | c),
            _ => false,
        }
    }
    match serde_json::from_str::<Value>(document) {
        Ok(mut doc) => {
            if redact(&mut doc) {
                doc.to_string()
            } else {
                document.to_string()
            }
        }
        Err(_) => document.to_string(),
    }
}

/// Reads a trust policy of a role in `own_account`.
pub fn analyze_trust(document: &str, own_account: &str) -> Result<Trust, String> {
    let doc: Value = serde_json::from_str(document)
        .map_err(|e| format!("the trust policy is not valid JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        Some(_) => return Err("Statement must be an object or a list".into()),
        None => return Err("the trust policy has no Statement".into()),
    };
    let mut allowed: Vec<Trusted> = Vec::new();
    let mut denied: Vec<(String, bool)> = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let Value::Object(statement) = statement else {
            return Err(format!("statement {i} is not an object"));
        };
        if !allows_assume_role(statement)? {
            continue;
        }
        let effect = statement
            .get("Effect")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("statement {i} has no Effect"))?;
        let conditions = conditions(statement)?;
        let principals = match statement.get("Principal") {
            Some(Value::String(s)) if s == "*" => vec![("RAM".to_string(), "*".to_string())],
            Some(Value::Object(map)) => {
                let mut out = Vec::new();
                for (kind, value) in map {
                    out.extend(
                        strings(value)
                            .map_err(|e| format!("statement {i} Principal {kind}: {e}"))?
                            .into_iter()
                            .map(|p| (kind.clone(), p)),
                    );
                }
                out
            }
            Some(other) => {
                return Err(format!(
                    "statement {i} has a Principal that is neither * nor an object: {other}"
                ));
            }
            None => return Err(format!("statement {i} has no Principal")),
        };
        for (kind, principal) in principals {
            if effect.eq_ignore_ascii_case("deny") {
                denied.push((principal, !conditions.keys.is_empty()));
                continue;
            }
            if !effect.eq_ignore_ascii_case("allow") {
                return Err(format!("statement {i} has an unknown Effect {effect:?}"));
            }
            let (kind, account_id, name) = match kind.as_str() {
                "RAM" => parse_ram(&principal, own_account)?,
                "Service" => (Kind::Service, None, principal.clone()),
                "Federated" => {
                    let (k, account, _) = parse_ram(&principal, own_account)?;
                    if k != Kind::IdentityProvider {
                        return Err(format!(
                            "Federated principal {principal:?} is not an identity provider"
                        ));
                    }
                    (k, account, principal.clone())
                }
                other => return Err(format!("unknown principal kind {other:?}")),
            };
            let cross_account = account_id.as_deref().is_some_and(|a| a != own_account);
            allowed.push(Trusted {
                kind,
                principal,
                account_id,
                name,
                cross_account,
                conditions: conditions.clone(),
                conditionally_denied: false,
            });
        }
    }
    let mut trust = Trust::default();
    for mut t in allowed {
        if denied
            .iter()
            .any(|(p, conditional)| *p == t.principal && !conditional)
        {
            trust.denied.push(t.principal);
            continue;
        }
        t.conditionally_denied = denied.iter().any(|(p, _)| *p == t.principal);
        trust.trusted.push(t);
    }
    Ok(trust)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "1234567890123456";

    #[test]
    fn every_principal_kind() {
        let doc = r#"{"Version":"1","Statement":[
            {"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:root","acs:ram::1234567890123456:user/alice","acs:ram::999:role/ops"]}},
            {"Action":["sts:AssumeRole"],"Effect":"Allow","Principal":{"Service":"ecs.aliyuncs.com","Federated":"acs:ram::1234567890123456:saml-provider/okta"}}]}"#;
        let t = analyze_trust(doc, OWN).unwrap();
        let got: Vec<(Kind, &str, bool)> = t
            .trusted
            .iter()
            .map(|p| (p.kind, p.name.as_str(), p.cross_account))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Account, OWN, false),
                (Kind::User, "alice", false),
                (Kind::Role, "ops", true),
                (
                    Kind::IdentityProvider,
                    "acs:ram::1234567890123456:saml-provider/okta",
                    false
                ),
                (Kind::Service, "ecs.aliyuncs.com", false),
            ]
        );
    }

    #[test]
    fn conditions_are_kept_without_the_external_id_value() {
        let doc = r#"{"Statement":{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":"acs:ram::111:root"},
            "Condition":{"StringEquals":{"sts:ExternalId":"s3cret"},"Bool":{"acs:MFAPresent":"true"},"IpAddress":{"acs:SourceIp":["10.0.0.0/8"]}}}}"#;
        let t = analyze_trust(doc, OWN).unwrap();
        let c = &t.trusted[0].conditions;
        assert!(c.external_id_required && c.mfa_required && t.trusted[0].cross_account);
        assert_eq!(c.source_ip, vec!["10.0.0.0/8"]);
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn deny_statements_remove_principals() {
        let doc = r#"{"Statement":[
            {"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:user/a","acs:ram::1234567890123456:user/b","acs:ram::1234567890123456:user/c"]}},
            {"Action":"sts:AssumeRole","Effect":"Deny","Principal":{"RAM":"acs:ram::1234567890123456:user/b"}},
            {"Action":"sts:AssumeRole","Effect":"Deny","Principal":{"RAM":"acs:ram::1234567890123456:user/c"},"Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}"#;
        let t = analyze_trust(doc, OWN).unwrap();
        let names: Vec<(&str, bool)> = t
            .trusted
            .iter()
            .map(|p| (p.name.as_str(), p.conditionally_denied))
            .collect();
        assert_eq!(names, vec![("a", false), ("c", true)]);
        assert_eq!(t.denied, vec!["acs:ram::1234567890123456:user/b"]);
    }

    #[test]
    fn wildcards_and_other_actions() {
        let t = analyze_trust(r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":"*"},{"Action":"ecs:*","Effect":"Allow","Principal":{"RAM":"acs:ram::1:root"}}]}"#, OWN).unwrap();
        assert_eq!(t.trusted.len(), 1);
        assert_eq!(
            (
                t.trusted[0].kind,
                t.trusted[0].name.as_str(),
                t.trusted[0].cross_account
            ),
            (Kind::Account, "*", true)
        );
    }

    #[test]
    fn external_ids_are_redacted_and_other_documents_kept_as_written() {
        let doc = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"sts:ExternalId":["abc-123"],"acs:MFAPresent":"true"}}}]}"#;
        let stored = without_external_ids(doc);
        assert!(!stored.contains("abc-123"), "{stored}");
        assert!(stored.contains("(redacted)") && stored.contains("acs:MFAPresent"));
        let plain = "{ \"Version\": \"1\", \"Statement\": [] }";
        assert_eq!(without_external_ids(plain), plain);
        assert_eq!(without_external_ids("not json"), "not json");
    }

    #[test]
    fn allow_everything() {
        assert!(
            allows_everything(r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}]}"#)
                .unwrap()
        );
        assert!(
            allows_everything(
                r#"{"Statement":[{"Action":["ecs:*","*:*"],"Effect":"Allow","Resource":["*"]}]}"#
            )
            .unwrap()
        );
        assert!(
            !allows_everything(
                r#"{"Statement":[{"Action":"ecs:*","Effect":"Allow","Resource":"*"}]}"#
            )
            .unwrap()
        );
        assert!(
            !allows_everything(r#"{"Statement":[{"Action":"*","Effect":"Deny","Resource":"*"}]}"#)
                .unwrap()
        );
        assert!(
            !allows_everything(
                r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"acs:oss:*:*:x"}]}"#
            )
            .unwrap()
        );
        // Everything but RAM is not everything.
        assert!(
            !allows_everything(
                r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"},{"Action":"ram:*","Effect":"Deny","Resource":"*"}]}"#
            )
            .unwrap()
        );
        assert!(allows_everything("nope").is_err());
    }

    #[test]
    fn malformed_policies_are_explained() {
        assert!(
            analyze_trust("{", OWN)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            analyze_trust("{}", OWN)
                .unwrap_err()
                .contains("no Statement")
        );
        assert!(
            analyze_trust(
                r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow"}]}"#,
                OWN
            )
            .unwrap_err()
            .contains("no Principal")
        );
        assert!(analyze_trust(r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["x"]}}]}"#, OWN).unwrap_err().contains("unrecognised"));
        assert!(analyze_trust(r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":[1]}}]}"#, OWN).is_err());
    }
}
