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
