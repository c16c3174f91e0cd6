//! Cases from Alibaba Cloud's policy documentation; each names the page it comes from.

use super::*;

fn policy(doc: &str) -> Policy {
    Policy::parse(doc).unwrap()
}

fn decide_all(policies: &[&Policy], action: &str, target: Target<'_>) -> Decision {
    let hits: Vec<Hit<'_>> = policies
        .iter()
        .flat_map(|p| p.hits(action, target))
        .collect();
    decide(&hits)
}

// https://www.alibabacloud.com/help/en/oss/user-guide/common-examples-of-ram-policies,
// example 1: full control of the bucket mybucket.
const OSS_FULL_CONTROL: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*",
  "Resource":["acs:oss:*:*:mybucket","acs:oss:*:*:mybucket/*"]}]}"#;

// The same page, example 2: no deleting objects of mybucket named abc*.txt.
const OSS_DENY_DELETE_ABC: &str = r#"{"Version":"1","Statement":[{"Effect":"Deny",
  "Action":["oss:DeleteObject"],"Resource":["acs:oss:*:*:mybucket/abc*.txt"]}]}"#;

#[test]
fn wildcard_resources_and_deny_overrides_allow() {
    let allow = policy(OSS_FULL_CONTROL);
    let deny = policy(OSS_DENY_DELETE_ABC);
    let object = |name: &str| format!("acs:oss:cn-hangzhou:123456789012:mybucket/{name}");
    let both = [&allow, &deny];
    assert_eq!(
        decide_all(
            &both,
            "oss:DeleteObject",
            Target::Arn(&object("report.txt"))
        ),
        Decision::Allowed
    );
    assert_eq!(
        decide_all(
            &both,
            "oss:DeleteObject",
            Target::Arn(&object("abc-2024.txt"))
        ),
        Decision::Denied
    );
    // Only DeleteObject is denied there; other actions on that object stay allowed.
    assert_eq!(
        decide_all(&both, "oss:GetObject", Target::Arn(&object("abc-2024.txt"))),
        Decision::Allowed
    );
    // Another bucket is not covered at all.
    assert_eq!(
        allow.decide(
            "oss:GetObject",
            Target::Arn("acs:oss:*:123456789012:otherbucket/x")
        ),
        Decision::NotAllowed
    );
    // Asked about any resource: allowed somewhere, and a Deny of some objects does not
    // deny every one.
    assert_eq!(
        decide_all(&both, "oss:DeleteObject", Target::Any),
        Decision::Allowed
    );
}

// https://www.alibabacloud.com/help/en/ram/user-guide/policy-elements, NotAction: every
// operation except those of RAM.
const ALL_BUT_RAM: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}"#;

#[test]
fn not_action_allows_everything_else() {
    let p = policy(ALL_BUT_RAM);
    assert_eq!(
        p.decide("ecs:DeleteInstance", Target::Any),
        Decision::Allowed
    );
    assert_eq!(
        p.decide("ram:AttachPolicyToUser", Target::Any),
        Decision::NotAllowed
    );
    // Actions match without regard to case.
    assert_eq!(
        p.decide("RAM:attachpolicytouser", Target::Any),
        Decision::NotAllowed
    );
}

// https://www.alibabacloud.com/help/en/resource-access-management/latest/access-oss-through-specified-ip-addresses:
// reading myphotos only from 192.168.0.0/16 or 172.16.0.0/12 ...
const OSS_READ_FROM_IP: &str = r#"{"Version":"1","Statement":[
  {"Effect":"Allow","Action":["oss:ListBuckets","oss:GetBucketStat","oss:GetBucketInfo","oss:GetBucketTagging","oss:GetBucketAcl"],"Resource":["acs:oss:*:*:*"]},
  {"Effect":"Allow","Action":["oss:ListObjects","oss:GetObject"],"Resource":["acs:oss:*:*:myphotos","acs:oss:*:*:myphotos/*"],
   "Condition":{"IpAddress":{"acs:SourceIp":["192.168.0.0/16","172.16.0.0/12"]}}}]}"#;

// ... and, on the same page, no OSS at all from outside 192.168.0.0/16.
const OSS_DENY_OUTSIDE_IP: &str = r#"{"Version":"1","Statement":[
  {"Effect":"Allow","Action":["oss:ListObjects","oss:GetObject"],"Resource":["acs:oss:*:*:myphotos","acs:oss:*:*:myphotos/*"]},
  {"Effect":"Deny","Action":"oss:*","Resource":["acs:oss:*:*:*"],
   "Condition":{"NotIpAddress":{"acs:SourceIp":["192.168.0.0/16"]}}}]}"#;

#[test]
fn conditions_make_a_decision_conditional_and_are_shown() {
    let p = policy(OSS_READ_FROM_IP);
    let photo = Target::Arn("acs:oss:*:123456789012:myphotos/cat.jpg");
    assert_eq!(p.decide("oss:GetObject", photo), Decision::Conditional);
    assert_eq!(p.decide("oss:ListBuckets", photo), Decision::Allowed);
    let hits = p.hits("oss:GetObject", photo);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].statement.number, 2);
    assert_eq!(
        hits[0].statement.conditions[0].to_string(),
        "IpAddress acs:SourceIp 192.168.0.0/16|172.16.0.0/12"
    );

    // A conditional Deny never denies outright; it makes an Allow conditional.
    let q = policy(OSS_DENY_OUTSIDE_IP);
    assert_eq!(q.decide("oss:GetObject", photo), Decision::Conditional);
    assert_eq!(
        q.decide("oss:PutObject", photo),
        Decision::NotAllowed,
        "nothing allows PutObject"
    );
}

// https://www.alibabacloud.com/help/en/ram/user-guide/policy-elements: the AdministratorAccess
// system policy allows every action on every resource.
const ADMINISTRATOR_ACCESS: &str =
    r#"{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"}],"Version":"1"}"#;

#[test]
fn an_explicit_deny_in_another_policy_wins() {
    let admin = policy(ADMINISTRATOR_ACCESS);
    let no_ram_writes = policy(
        r#"{"Version":"1","Statement":{"Effect":"Deny","Action":["ram:Create*","ram:Attach*"],"Resource":"*"}}"#,
    );
    let both = [&admin, &no_ram_writes];
    assert_eq!(
        decide_all(&both, "ram:AttachPolicyToUser", Target::Any),
        Decision::Denied
    );
    assert_eq!(
        decide_all(&both, "ram:ListUsers", Target::Any),
        Decision::Allowed
    );
    assert_eq!(
        decide_all(
            &both,
            "ram:CreateAccessKey",
            Target::Arn("acs:ram:*:123456789012:user/alice")
        ),
        Decision::Denied
    );
}

#[test]
fn not_resource_and_question_marks() {
    let p = policy(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Describe?nstances","NotResource":"acs:ecs:*:*:instance/i-secret*"}]}"#,
    );
    assert_eq!(
        p.decide(
            "ecs:DescribeInstances",
            Target::Arn("acs:ecs:cn-hangzhou:1:instance/i-web")
        ),
        Decision::Allowed
    );
    assert_eq!(
        p.decide(
            "ecs:DescribeInstances",
            Target::Arn("acs:ecs:cn-hangzhou:1:instance/i-secret-db")
        ),
        Decision::NotAllowed
    );
    assert_eq!(
        p.decide("ecs:DescribeIinstances", Target::Any),
        Decision::NotAllowed
    );
    // Resources are matched as written: ARNs are case-sensitive.
    assert_eq!(
        p.decide(
            "ecs:DescribeInstances",
            Target::Arn("acs:ecs:cn-hangzhou:1:instance/I-SECRET-db")
        ),
        Decision::Allowed
    );
}

#[test]
fn bad_documents_say_what_is_wrong() {
    let err = |doc: &str| Policy::parse(doc).unwrap_err();
    assert!(err("{").contains("not valid JSON"));
    assert!(err(r#"{"Version":"2","Statement":[]}"#).contains("Version"));
    assert!(err(r#"{"Version":"1"}"#).contains("no Statement"));
    assert!(
        err(r#"{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#)
            .contains("statement 1: Effect must be Allow or Deny")
    );
    assert!(
        err(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"ram:*","Resource":"*"}]}"#
        )
        .contains("both Action and NotAction")
    );
    assert!(
        err(r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#)
            .contains("neither Resource nor NotResource")
    );
    assert!(
        err(r#"{"Statement":[{"Effect":"Allow","Action":"DescribeInstances","Resource":"*"}]}"#)
            .contains("<service>:<action>")
    );
    assert!(
        err(r#"{"Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}"#)
            .contains("an action must be a string")
    );
}

#[test]
fn external_id_values_are_never_kept() {
    let p = policy(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"sts:ExternalId":"s3cr3t","acs:MFAPresent":true}}}]}"#,
    );
    let shown: Vec<String> = p.statements[0]
        .conditions
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(shown.iter().all(|c| !c.contains("s3cr3t")), "{shown:?}");
    assert!(shown.contains(&"StringEquals acs:MFAPresent true".to_string()));
}

#[test]
fn wildcards() {
    assert!(wildcard_matches("*", "", false));
    assert!(wildcard_matches("a*b*c", "aXXbYYc", false));
    assert!(!wildcard_matches("a*b*c", "aXXbYY", false));
    assert!(wildcard_matches(
        "ram:*Policy*",
        "ram:AttachPolicyToUser",
        false
    ));
    assert!(wildcard_matches("?", "é", false));
    assert!(!wildcard_matches("ECS:*", "ecs:x", false));
    assert!(wildcard_matches("ECS:*", "ecs:x", true));
}
