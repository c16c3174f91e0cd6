//! The API products ramsync talks to and where each is reached for one account.

use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// The API products ramsync talks to, with their public endpoints.
pub const PRODUCTS: &[(&str, &str)] = &[
    ("ram", "https://ram.aliyuncs.com"),
    ("ims", "https://ims.aliyuncs.com"),
    ("sts", "https://sts.aliyuncs.com"),
    ("resourcemanager", "https://resourcemanager.aliyuncs.com"),
];

/// The product an API version belongs to. Requests name their version in `x-acs-version`;
/// the local API serves every product at one address, so the endpoint alone cannot tell.
pub fn product_of_version(version: &str) -> Option<&'static str> {
    match version {
        "2015-05-01" => Some("ram"),
        "2019-08-15" => Some("ims"),
        "2015-04-01" => Some("sts"),
        "2020-03-31" => Some("resourcemanager"),
        _ => None,
    }
}

/// The API version ramsync calls a product with.
pub fn version_of_product(product: &str) -> Option<&'static str> {
    match product {
        "ram" => Some("2015-05-01"),
        "ims" => Some("2019-08-15"),
        "sts" => Some("2015-04-01"),
        "resourcemanager" => Some("2020-03-31"),
        _ => None,
    }
}

/// Where each product is reached. Every configured endpoint is allowed; nothing else is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    by_product: BTreeMap<String, url::Url>,
}

impl Default for Endpoints {
    fn default() -> Self {
        let by_product = PRODUCTS
            .iter()
            .map(|(p, u)| {
                (
                    p.to_string(),
                    url::Url::parse(u).expect("valid default endpoint"),
                )
            })
            .collect();
        Endpoints { by_product }
    }
}

impl Endpoints {
    /// Replaces a product's endpoint, from a `PRODUCT=URL` argument.
    pub fn set(&mut self, product: &str, url: &str) -> Result<()> {
        if !PRODUCTS.iter().any(|(p, _)| *p == product) {
            let known: Vec<&str> = PRODUCTS.iter().map(|(p, _)| *p).collect();
            bail!(
                "unknown product {product:?} in --endpoint; expected one of {}",
                known.join(", ")
            );
        }
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("invalid URL {url:?} for {product}: {e}"))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            bail!("endpoint for {product} must be http:// or https://, got {url:?}");
        }
        if parsed.host_str().is_none()
            || !matches!(parsed.path(), "" | "/")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            bail!(
                "endpoint for {product} must be a base URL like https://host[:port], got {url:?}"
            );
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            bail!("endpoint for {product} must not carry credentials");
        }
        self.by_product.insert(product.to_string(), parsed);
        Ok(())
    }

    /// Parses a `PRODUCT=URL` argument and applies it.
    pub fn apply_arg(&mut self, arg: &str) -> Result<()> {
        let Some((product, url)) = arg.split_once('=') else {
            bail!(
                "--endpoint takes PRODUCT=URL, for example ram=http://127.0.0.1:8080; got {arg:?}"
            );
        };
        self.set(product.trim(), url.trim())
    }

    /// All products at one base URL, as the local API serves them.
    pub fn all_at(base: &str) -> Result<Self> {
        let mut e = Endpoints::default();
        for (p, _) in PRODUCTS {
            e.set(p, base)?;
        }
        Ok(e)
    }

    /// The base URL for a product, without a trailing slash.
    pub fn base_url(&self, product: &str) -> Option<String> {
        self.by_product
            .get(product)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
    }

    /// The `host[:port]` a product's requests name and are signed for (the port only when
    /// the URL gives one), as the `Host` header carries it.
    pub fn authority(&self, product: &str) -> Option<String> {
        let url = self.by_product.get(product)?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        })
    }

    /// The products served at `scheme://authority`, none when it is not an allowed endpoint
    /// (several when they share a base URL, as on the local API).
    pub fn products_at(&self, scheme: &str, host: &str, port: Option<u16>) -> Vec<&str> {
        self.by_product
            .iter()
            .filter(|(_, url)| {
                url.scheme() == scheme
                    && url.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host))
                    && url.port_or_known_default() == port.or_else(|| default_port(scheme))
            })
            .map(|(product, _)| product.as_str())
            .collect()
    }

    /// Every endpoint, `ram=https://..., ims=...`, for messages and run records.
    pub fn describe(&self) -> String {
        self.by_product
            .iter()
            .map(|(p, u)| format!("{p}={}", u.as_str().trim_end_matches('/')))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_allow_only_public_endpoints_over_https() {
        let e = Endpoints::default();
        assert_eq!(
            e.products_at("https", "ram.aliyuncs.com", None)
                .first()
                .copied(),
            Some("ram")
        );
        assert_eq!(
            e.products_at("https", "ims.aliyuncs.com", Some(443))
                .first()
                .copied(),
            Some("ims")
        );
        assert_eq!(
            e.products_at("http", "ram.aliyuncs.com", None)
                .first()
                .copied(),
            None
        );
        assert_eq!(
            e.products_at("https", "evil.example.com", None)
                .first()
                .copied(),
            None
        );
        assert_eq!(
            e.products_at("https", "ram.aliyuncs.com", Some(8443))
                .first()
                .copied(),
            None
        );
    }

    #[test]
    fn overrides_are_validated() {
        let mut e = Endpoints::default();
        e.apply_arg("ram=http://127.0.0.1:8080").unwrap();
        assert_eq!(
            e.products_at("http", "127.0.0.1", Some(8080))
                .first()
                .copied(),
            Some("ram")
        );
        assert_eq!(e.base_url("ram").unwrap(), "http://127.0.0.1:8080");
        assert!(
            e.apply_arg("ecs=http://x")
                .unwrap_err()
                .to_string()
                .contains("unknown product")
        );
        assert!(e.apply_arg("ram").is_err());
        assert!(e.apply_arg("ram=ftp://x").is_err());
        assert!(e.apply_arg("ram=http://x/path").is_err());
        assert!(e.apply_arg("ram=http://x/#frag").is_err());
        assert!(e.apply_arg("ram=http://x#").is_err());
    }
}
