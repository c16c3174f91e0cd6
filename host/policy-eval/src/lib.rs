//! Evaluates RAM permission policies offline: which statements of a policy allow or deny an
//! action on a resource, and what a principal's policies decide together.
//!
//! It follows Alibaba Cloud's documented policy language
//! (<https://www.alibabacloud.com/help/en/ram/user-guide/policy-elements>): `Effect` Allow or
//! Deny, an explicit Deny winning over any Allow; `Action` or `NotAction` and `Resource` or
//! `NotResource`, each a string or a list; `*` and `?` wildcards; actions matched without
//! regard to case; resources as `acs:<service>:<region>:<account>:<relative-id>`. A
//! `Condition` is never guessed at: a statement with one decides only *conditionally*, and its
//! operators and keys are kept to be shown.
//!
//! Pure code over strings, with no I/O, so every rule is unit-tested here.

#![deny(missing_docs)]

use serde_json::Value;
use std::fmt;

mod glob;
#[cfg(test)]
mod tests;

pub use glob::matches as wildcard_matches;

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The statement allows what it matches.
    Allow,
    /// The statement denies what it matches, whatever else allows it.
    Deny,
}

/// A list of patterns, or every value except those (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    /// `Action` / `Resource`: the values matching one of these.
    Listed(Vec<String>),
    /// `NotAction` / `NotResource`: the values matching none of these.
    Except(Vec<String>),
}

impl Patterns {
    fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let any = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| glob::matches(p, value, case_insensitive))
        };
        match self {
            Patterns::Listed(p) => any(p),
            Patterns::Except(p) => !any(p),
        }
    }

    /// Whether these patterns cover every possible value.
    fn cover_everything(&self) -> bool {
        match self {
            Patterns::Listed(p) => p.iter().any(|p| p.chars().all(|c| c == '*')),
            Patterns::Except(p) => p.is_empty(),
        }
    }

    /// Whether some value matches (a `NotResource: "*"` matches none).
    fn match_something(&self) -> bool {
        match self {
            Patterns::Listed(p) => !p.is_empty(),
            Patterns::Except(p) => !p.iter().any(|p| p.chars().all(|c| c == '*')),
        }
    }

    /// The patterns as written, `NotX` ones prefixed with `not `.
    pub fn written(&self) -> Vec<String> {
        match self {
            Patterns::Listed(p) => p.clone(),
            Patterns::Except(p) => p.iter().map(|p| format!("not {p}")).collect(),
        }
    }
}

/// One condition of a statement: an operator, a key and the values it compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// For example `IpAddress` or `StringEquals`.
    pub operator: String,
    /// For example `acs:SourceIp` or `acs:MFAPresent`.
    pub key: String,
    /// The values, except for keys whose values are secrets (`sts:ExternalId`).
    pub values: Vec<String>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.values.is_empty() {
            write!(f, "{} {}", self.operator, self.key)
        } else {
            write!(
                f,
                "{} {} {}",
                self.operator,
                self.key,
                self.values.join("|")
            )
        }
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its place in the policy, from 1, as the RAM console numbers statements.
    pub number: usize,
    /// Allow or Deny.
    pub effect: Effect,
    /// `Action` or `NotAction`.
    pub actions: Patterns,
    /// `Resource` or `NotResource`.
    pub resources: Patterns,
    /// Every condition; empty when the statement has none.
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// This statement, if it applies to `action` on `target`.
    pub fn hit(&self, action: &str, target: Target<'_>) -> Option<Hit<'_>> {
        if !self.actions.matches(action, true) {
            return None;
        }
        match target {
            Target::Arn(arn) => self.resources.matches(arn, false).then_some(Hit {
                statement: self,
                every_resource: true,
            }),
            Target::Any => self.resources.match_something().then(|| Hit {
                statement: self,
                every_resource: self.resources.cover_everything(),
            }),
        }
    }

    /// The services its actions can name, lowercased, for an index by action prefix;
    /// `None` when any service may match (`NotAction`, or a wildcard in a service name).
    pub fn services(&self) -> Option<Vec<String>> {
        let Patterns::Listed(actions) = &self.actions else {
            return None;
        };
        let mut out = Vec::new();
        for a in actions {
            let service = a.split_once(':').map_or(a.as_str(), |(s, _)| s);
            if service.contains(['*', '?']) {
                return None;
            }
            out.push(service.to_ascii_lowercase());
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// Whether it allows every action on every resource without conditions, as
    /// AdministratorAccess does.
    pub fn allows_everything(&self) -> bool {
        let every_action = match &self.actions {
            Patterns::Listed(a) => a.iter().any(|a| a == "*" || a == "*:*"),
            Patterns::Except(a) => a.is_empty(),
        };
        self.effect == Effect::Allow
            && self.conditions.is_empty()
            && every_action
            && self.resources.cover_everything()
    }
}

/// A parsed permission policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its statements, in order.
    pub statements: Vec<Statement>,
}

/// The resource a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// One resource, by its ARN (`acs:oss:*:123456789012:mybucket/file`).
    Arn(&'a str),
    /// Any resource: allowed if some resource is, denied only if every resource is.
    Any,
}

/// A statement that applies to a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'p> {
    /// The statement.
    pub statement: &'p Statement,
    /// For [`Target::Any`], whether the statement covers every resource; always true for
    /// an ARN it matched.
    pub every_resource: bool,
}

impl Hit<'_> {
    /// Whether the statement decides only under its conditions.
    pub fn conditional(&self) -> bool {
        !self.statement.conditions.is_empty()
    }
}

/// What a set of policies decides for one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// An Allow applies without conditions and no Deny does.
    Allowed,
    /// Allowed only when conditions hold (of an Allow, or of a Deny that would remove it).
    Conditional,
    /// An explicit Deny without conditions applies.
    Denied,
    /// No Allow applies: denied by default.
    NotAllowed,
}

impl Decision {
    /// The decision as the commands print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Conditional => "conditional",
            Decision::Denied => "denied",
            Decision::NotAllowed => "not allowed",
        }
    }

    /// Whether the action can happen at all (allowed, or under conditions).
    pub fn may_allow(self) -> bool {
        matches!(self, Decision::Allowed | Decision::Conditional)
    }
}

/// Combines the statements that apply to one question, from every policy of a principal:
/// an explicit Deny without conditions wins; then an Allow without conditions gives
/// `Allowed`, unless a conditional Deny could remove it; otherwise any Allow is
/// `Conditional`; with no Allow, `NotAllowed`.
pub fn decide<'a>(hits: impl IntoIterator<Item = &'a Hit<'a>>) -> Decision {
    let (mut allow, mut conditional_allow, mut conditional_deny) = (false, false, false);
    for hit in hits {
        match (hit.statement.effect, hit.conditional()) {
            // A Deny of only some resources does not deny "any resource".
            (Effect::Deny, false) if hit.every_resource => return Decision::Denied,
            (Effect::Deny, _) => conditional_deny |= hit.every_resource,
            (Effect::Allow, false) => allow = true,
            (Effect::Allow, true) => conditional_allow = true,
        }
    }
    match (allow, conditional_allow, conditional_deny) {
        (true, _, false) => Decision::Allowed,
        (true, _, true) | (false, true, _) => Decision::Conditional,
        (false, false, _) => Decision::NotAllowed,
    }
}

impl Policy {
    /// Parses a policy document. Every error says what in the document is wrong.
    pub fn parse(document: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(document)
            .map_err(|e| format!("the policy is not valid JSON: {e}"))?;
        let Value::Object(doc) = doc else {
            return Err("the policy is not a JSON object".into());
        };
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "1" => {}
            Some(other) => return Err(format!("Version must be \"1\", not {other}")),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(single @ Value::Object(_)) => vec![single],
            Some(_) => return Err("Statement must be an object or a list of objects".into()),
            None => return Err("the policy has no Statement".into()),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| statement(i + 1, s).map_err(|e| format!("statement {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    /// The statements that apply to `action` on `target`. An action is `service:Name`,
    /// matched without regard to case; a resource is matched as written.
    pub fn hits<'p>(&'p self, action: &str, target: Target<'_>) -> Vec<Hit<'p>> {
        self.statements
            .iter()
            .filter_map(|s| s.hit(action, target))
            .collect()
    }

    /// Whether the policy grants everything: a statement allows every action on every
    /// resource without conditions, and no statement denies anything.
    pub fn allows_everything(&self) -> bool {
        self.statements.iter().any(Statement::allows_everything)
            && !self.statements.iter().any(|s| s.effect == Effect::Deny)
    }

    /// What this policy alone decides.
    pub fn decide(&self, action: &str, target: Target<'_>) -> Decision {
        decide(&self.hits(action, target))
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                // Condition values may be numbers or booleans.
                Value::Bool(_) | Value::Number(_) if what == "a condition value" => {
                    Ok(i.to_string())
                }
                other => Err(format!("{what} must be a string, not {other}")),
            })
            .collect(),
        Value::Bool(_) | Value::Number(_) if what == "a condition value" => Ok(vec![v.to_string()]),
        other => Err(format!(
            "{what} must be a string or a list of strings, not {other}"
        )),
    }
}

/// Exactly one of `name` and `Not{name}`.
fn patterns(
    statement: &serde_json::Map<String, Value>,
    name: &str,
    what: &str,
) -> Result<Patterns, String> {
    let not = format!("Not{name}");
    match (statement.get(name), statement.get(&not)) {
        (Some(v), None) => Ok(Patterns::Listed(strings(v, what)?)),
        (None, Some(v)) => Ok(Patterns::Except(strings(v, what)?)),
        (Some(_), Some(_)) => Err(format!("it has both {name} and {not}")),
        (None, None) => Err(format!("it has neither {name} nor {not}")),
    }
}

fn statement(number: usize, value: &Value) -> Result<Statement, String> {
    let Value::Object(s) = value else {
        return Err("it is not an object".into());
    };
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some(e) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(e) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(e) => return Err(format!("Effect must be Allow or Deny, not {e:?}")),
        None => return Err("it has no Effect".into()),
    };
    let actions = patterns(s, "Action", "an action")?;
    if let Patterns::Listed(a) | Patterns::Except(a) = &actions
        && let Some(bad) = a.iter().find(|a| *a != "*" && !a.contains(':'))
    {
        return Err(format!(
            "action {bad:?} is not <service>:<action> (for example ecs:DescribeInstances)"
        ));
    }
    let resources = patterns(s, "Resource", "a resource")?;
    let mut conditions = Vec::new();
    match s.get("Condition") {
        None => {}
        Some(Value::Object(operators)) => {
            for (operator, entries) in operators {
                let Value::Object(entries) = entries else {
                    return Err(format!("Condition {operator} must be an object"));
                };
                for (key, values) in entries {
                    let values = if key.eq_ignore_ascii_case("sts:ExternalId") {
                        Vec::new()
                    } else {
                        strings(values, "a condition value")?
                    };
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.clone(),
                        values,
                    });
                }
            }
        }
        Some(_) => return Err("Condition must be an object".into()),
    }
    Ok(Statement {
        number,
        effect,
        actions,
        resources,
        conditions,
    })
}
