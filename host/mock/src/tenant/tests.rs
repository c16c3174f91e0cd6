use super::*;

#[test]
fn sample_tenant_loads() {
    let t = Tenant::sample().unwrap();
    assert!(t.users.len() >= 50);
    assert!(t.users.iter().any(|u| u.frozen));
    assert!(t.groups.len() >= 8);
}

#[test]
fn bad_tenants_are_explained() {
    let e = Tenant::from_json(r#"{"account_id":"1","alias":"a"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("16 digits"), "{e}");
    let e = Tenant::from_json(r#"{"account_id":"1234567890123456","alias":"a","users":[{"name":"x","display_name":"X","groups":["nope"]}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown group"), "{e}");
    assert!(Tenant::from_json("{").is_err());
    assert!(Tenant::synthetic("users=abc").is_err());
    assert!(Tenant::synthetic("people=3").is_err());
    assert!(Tenant::synthetic("users=1000001").is_err());
    assert!(Tenant::synthetic("groups=18446744073709551615").is_err());
    assert!(Tenant::synthetic("policies=100001").is_err());
    for spec in [
        "users=0,groups=0,roles=0,policies=0",
        "users=3,groups=0,roles=1,policies=0,attached_policies=5",
        "users=3,groups=1,roles=1,policies=1,custom_policies=9,attached_policies=0",
    ] {
        Tenant::synthetic(spec).unwrap();
    }
}

#[test]
fn keys_consoles_and_mfa_devices_are_checked() {
    let user = |extra: &str| {
        format!(
            r#"{{"account_id":"1234567890123456","alias":"a","users":[{{"name":"x","display_name":"X",{extra}}}]}}"#
        )
    };
    for (extra, message) in [
        (
            r#""access_keys":[{"id":"LTAIa","created":"yesterday"}]"#,
            "\"recent\"",
        ),
        (
            r#""access_keys":[{"id":"LTAIa","status":"Disabled","created":"recent"}]"#,
            "Active or Inactive",
        ),
        (
            r#""access_keys":[{"id":"LTAIa","created":"recent"},{"id":"LTAIa","created":"recent"}]"#,
            "used twice",
        ),
        (r#""console":{"status":"Off"}"#, "console status"),
        (r#""mfa_device":{"serial":""}"#, "MFA serial"),
        (
            r#""access_keys":[{"id":"LTAIa","secret":"s","created":"recent"}]"#,
            "unknown field `secret`",
        ),
    ] {
        let e = format!("{:#}", Tenant::from_json(&user(extra)).unwrap_err());
        assert!(e.contains(message), "{extra}: {e}");
    }
    let t = Tenant::from_json(&user(
        r#""console":{},"mfa_device":{"serial":"acs:ram::1234567890123456:mfa/x"}"#,
    ))
    .unwrap();
    let u = &t.users[0];
    assert_eq!(u.console.as_ref().unwrap().status, "Active");
    assert!(u.mfa_device.as_ref().unwrap().activate_date.ends_with('Z'));
    assert!(u.access_keys.is_empty());
}

#[test]
fn synthetic_tenants_have_keys_consoles_and_mfa_devices() {
    let a = Tenant::synthetic("users=100,groups=2,roles=0,policies=0").unwrap();
    let b = Tenant::synthetic("users=100,groups=2,roles=0,policies=0").unwrap();
    let keys = |t: &Tenant| -> Vec<AccessKey> {
        t.users.iter().flat_map(|u| u.access_keys.clone()).collect()
    };
    assert_eq!(keys(&a), keys(&b), "deterministic");
    assert!(
        keys(&a)
            .iter()
            .all(|k| k.id.len() == 24 && k.id.starts_with("LTAI"))
    );
    assert!(keys(&a).iter().any(|k| k.status == "Inactive"));
    assert!(a.users.iter().any(|u| u.access_keys.len() == 2));
    assert!(
        a.users
            .iter()
            .any(|u| u.console.is_some() && u.mfa_device.is_none())
    );
    assert!(a.users.iter().any(|u| u.console.is_none()));
    assert!(a.users.iter().any(|u| u.mfa_device.is_some()));
}

#[test]
fn synthetic_sizes() {
    let t = Tenant::synthetic("users=250,groups=7,roles=3,policies=11").unwrap();
    assert_eq!(
        (
            t.users.len(),
            t.groups.len(),
            t.roles.len(),
            t.policies.len()
        ),
        (250, 7, 3, 11)
    );
    assert!(t.groups.iter().map(|g| g.members.len()).sum::<usize>() > 250);
}
