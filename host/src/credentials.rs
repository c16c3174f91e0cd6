//! Credentials. They are handed to the signer plugin alone, never to a syncer, and their
//! `Debug` form is redacted so no secret reaches a log, an error or a panic message.

use anyhow::{Result, bail};
use std::fmt;

pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// An AccessKey, or STS temporary credentials when `security_token` is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    access_key_secret: Secret,
    security_token: Option<Secret>,
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is handed to the signer or sent on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credential {
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Credential {
            access_key_id: access_key_id.into(),
            access_key_secret: Secret::new(access_key_secret),
            security_token: security_token.filter(|t| !t.is_empty()).map(Secret::new),
        }
    }

    /// Reads the `ALIBABA_CLOUD_*` environment variables.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let id = get(ENV_ACCESS_KEY_ID)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let secret = get(ENV_ACCESS_KEY_SECRET).filter(|v| !v.trim().is_empty());
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Credential::new(
                id,
                secret.trim(),
                get(ENV_SECURITY_TOKEN).map(|t| t.trim().to_string()),
            )),
            (None, None) => bail!(
                "no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (and {ENV_SECURITY_TOKEN} for STS credentials)"
            ),
            (None, Some(_)) => {
                bail!("{ENV_ACCESS_KEY_SECRET} is set but {ENV_ACCESS_KEY_ID} is missing or empty")
            }
            (Some(_), None) => {
                bail!("{ENV_ACCESS_KEY_ID} is set but {ENV_ACCESS_KEY_SECRET} is missing or empty")
            }
        }
    }

    pub fn access_key_secret(&self) -> &Secret {
        &self.access_key_secret
    }

    pub fn security_token(&self) -> Option<&Secret> {
        self.security_token.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::new("LTAIid", "s3cr3t-value", Some("tok3n-value".into()));
        let shown = format!("{c:?} {}", c.access_key_secret());
        assert!(shown.contains("LTAIid"));
        assert!(!shown.contains("s3cr3t"));
        assert!(!shown.contains("tok3n"));
    }

    #[test]
    fn missing_variables_are_named() {
        let none = Credential::from_lookup(|_| None).unwrap_err().to_string();
        assert!(none.contains(ENV_ACCESS_KEY_ID) && none.contains(ENV_ACCESS_KEY_SECRET));
        let only_id =
            Credential::from_lookup(|n| (n == ENV_ACCESS_KEY_ID).then(|| "id".to_string()));
        assert!(
            only_id
                .unwrap_err()
                .to_string()
                .contains(ENV_ACCESS_KEY_SECRET)
        );
    }
}
