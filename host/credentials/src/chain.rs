//! Credentials and where they come from: the environment, then an Alibaba Cloud CLI
//! profile. They are handed to the signer plugin alone, never to a syncer, and their
//! `Debug` form is redacted so no secret reaches a log, an error or a panic message.

use anyhow::{Result, bail};
use std::fmt;

/// The variable holding the AccessKey id.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// The variable holding the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// The variable holding the STS security token, for temporary credentials.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// An AccessKey, or STS temporary credentials when `security_token` is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The AccessKey id; not a secret, it names the key in errors and signatures.
    pub access_key_id: String,
    access_key_secret: Secret,
    security_token: Option<Secret>,
}

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
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
    /// A credential from its parts; a security token makes it an STS credential.
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

    /// A credential from the `ALIBABA_CLOUD_*` variables, as `get` reads them.
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

    /// The AccessKey secret, for the signer only.
    pub fn access_key_secret(&self) -> &Secret {
        &self.access_key_secret
    }

    /// The STS security token, if this is a temporary credential.
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

/// The Alibaba Cloud CLI's config file, `~/.aliyun/config.json`; `RAMSYNC_ALIYUN_CONFIG` overrides the path.
pub fn cli_config_path() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("RAMSYNC_ALIYUN_CONFIG").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| std::path::Path::new(&h).join(".aliyun").join("config.json"))
}

/// The default chain, in the order Alibaba Cloud's own tools use: the `ALIBABA_CLOUD_*`
/// environment variables, then a profile of the CLI's config file (`profile`, else
/// `ALIBABA_CLOUD_PROFILE`, else the file's current profile). An explicit `profile` skips
/// the environment variables.
pub fn default_chain(profile: Option<&str>) -> Result<crate::sts::CredentialSource> {
    if profile.is_none() {
        let env = Credential::from_env();
        let any_set = [ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if env.is_ok() || any_set {
            return Ok(crate::sts::CredentialSource::Fixed(env?));
        }
    }
    let name = profile.map(str::to_string).or_else(|| {
        std::env::var("ALIBABA_CLOUD_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
    });
    let path = cli_config_path();
    match path.as_deref().filter(|p| p.exists()) {
        Some(path) => from_cli_config(path, name.as_deref()),
        None if name.is_some() => bail!(
            "profile {:?} was asked for, but there is no Alibaba Cloud CLI config file at {}",
            name.unwrap_or_default(),
            path.map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.aliyun/config.json".into())
        ),
        None => bail!(
            "no credentials: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} (and {ENV_SECURITY_TOKEN} for STS credentials), or configure a profile with `aliyun configure`"
        ),
    }
}

/// A profile of the Alibaba Cloud CLI's config file: modes AK, StsToken, RamRoleArn and
/// ChainableRamRoleArn.
pub fn from_cli_config(
    path: &std::path::Path,
    profile: Option<&str>,
) -> Result<crate::sts::CredentialSource> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid JSON: {e}", path.display()))?;
    let name = match profile {
        Some(p) => p.to_string(),
        None => config
            .get("current")
            .and_then(|c| c.as_str())
            .filter(|c| !c.is_empty())
            .unwrap_or("default")
            .to_string(),
    };
    profile_source(&config, path, &name, 0)
}

fn profile_source(
    config: &serde_json::Value,
    path: &std::path::Path,
    name: &str,
    depth: usize,
) -> Result<crate::sts::CredentialSource> {
    use crate::sts::{AssumeRole, CredentialSource};
    if depth > 8 {
        bail!(
            "{}: profile {name:?}: source_profile chain is too long or loops",
            path.display()
        );
    }
    let profiles = config
        .get("profiles")
        .and_then(|p| p.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(p) = profiles
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))
    else {
        let known: Vec<&str> = profiles
            .iter()
            .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
            .collect();
        bail!(
            "{}: no profile named {name:?} (profiles: {})",
            path.display(),
            known.join(", ")
        );
    };
    let field = |k: &str| {
        p.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let need = |k: &str| {
        field(k).ok_or_else(|| anyhow::anyhow!("{}: profile {name:?} has no {k}", path.display()))
    };
    let role = |base: CredentialSource| -> Result<CredentialSource> {
        let mut spec = AssumeRole::new(need("ram_role_arn")?);
        if let Some(s) = field("ram_session_name") {
            spec.session_name = s.to_string();
        }
        if let Some(d) = p
            .get("expired_seconds")
            .and_then(|v| v.as_u64())
            .filter(|d| *d > 0)
        {
            spec.duration_seconds = d.clamp(900, 43200) as u32;
        }
        spec.external_id = field("external_id").map(str::to_string);
        spec.policy = field("policy").map(str::to_string);
        Ok(base.assume(spec))
    };
    let key = || -> Result<Credential> {
        Ok(Credential::new(
            need("access_key_id")?,
            need("access_key_secret")?,
            None,
        ))
    };
    match field("mode").unwrap_or("AK") {
        "AK" => Ok(CredentialSource::Fixed(key()?)),
        "StsToken" => Ok(CredentialSource::Fixed(Credential::new(
            need("access_key_id")?,
            need("access_key_secret")?,
            Some(need("sts_token")?.to_string()),
        ))),
        "RamRoleArn" => role(CredentialSource::Fixed(key()?)),
        "ChainableRamRoleArn" => role(profile_source(
            config,
            path,
            need("source_profile")?,
            depth + 1,
        )?),
        other => bail!(
            "{}: profile {name:?} uses mode {other:?}, which ramsync does not support; use AK, StsToken, RamRoleArn or ChainableRamRoleArn",
            path.display()
        ),
    }
}

#[cfg(test)]
mod cli_config_tests {
    use super::*;

    fn write(json: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    #[test]
    fn modes_and_mistakes() {
        use crate::sts::CredentialSource;
        let (_d, path) = write(
            r#"{"current":"ak","profiles":[
              {"name":"ak","mode":"AK","access_key_id":"LTAIak","access_key_secret":"s1"},
              {"name":"sts","mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s2","sts_token":"tok"},
              {"name":"role","mode":"RamRoleArn","access_key_id":"LTAIr","access_key_secret":"s3","ram_role_arn":"acs:ram::1:role/r","ram_session_name":"s","expired_seconds":1200,"external_id":"e"},
              {"name":"chain","mode":"ChainableRamRoleArn","source_profile":"role","ram_role_arn":"acs:ram::1:role/next"},
              {"name":"loop","mode":"ChainableRamRoleArn","source_profile":"loop","ram_role_arn":"acs:ram::1:role/x"},
              {"name":"ecs","mode":"EcsRamRole","ram_role_name":"x"},
              {"name":"broken","mode":"AK","access_key_id":"LTAIb"}]}"#,
        );
        match from_cli_config(&path, None).unwrap() {
            CredentialSource::Fixed(c) => assert_eq!(c.access_key_id, "LTAIak"),
            _ => panic!("current profile is AK"),
        }
        match from_cli_config(&path, Some("sts")).unwrap() {
            CredentialSource::Fixed(c) => assert_eq!(c.security_token().unwrap().expose(), "tok"),
            _ => panic!("StsToken is fixed"),
        }
        match from_cli_config(&path, Some("role")).unwrap() {
            CredentialSource::AssumeRole { spec, .. } => {
                assert_eq!(
                    (spec.role_arn.as_str(), spec.duration_seconds),
                    ("acs:ram::1:role/r", 1200)
                );
                assert_eq!(spec.external_id.as_deref(), Some("e"));
            }
            _ => panic!("RamRoleArn assumes"),
        }
        match from_cli_config(&path, Some("chain")).unwrap() {
            CredentialSource::AssumeRole { base, spec, .. } => {
                assert_eq!(spec.role_arn, "acs:ram::1:role/next");
                assert!(matches!(*base, CredentialSource::AssumeRole { .. }));
            }
            _ => panic!("chains"),
        }
        let err = |p: &str| from_cli_config(&path, Some(p)).err().unwrap().to_string();
        assert!(err("loop").contains("loops"));
        assert!(err("ecs").contains("does not support"));
        assert!(err("broken").contains("has no access_key_secret"));
        assert!(err("nope").contains("no profile named \"nope\""));
        let (_d2, bad) = write("{not json");
        assert!(
            from_cli_config(&bad, None)
                .err()
                .unwrap()
                .to_string()
                .contains("not valid JSON")
        );
    }
}
