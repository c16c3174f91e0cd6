//! `ramsync.toml`: the accounts one run syncs. Every mistake is reported with the file,
//! line and key, and nothing is synced until the whole file is valid.
//!
//! ```toml
//! [[account]]
//! name = "prod"                      # required, unique
//! profile = "default"                # optional Alibaba Cloud CLI profile; default chain when absent
//! qps = 20                           # optional requests per second per product
//! endpoints = { ram = "http://127.0.0.1:8080" }   # optional overrides
//! [account.assume_role]              # optional
//! role_arn = "acs:ram::1234567890123456:role/ramsync-reader"
//! external_id = "..."                # optional
//! session_name = "ramsync"           # optional
//! duration_seconds = 3600            # optional
//!
//! [resource_directory]               # optional: every account of an organisation
//! profile = "org-admin"              # the management account or a delegated administrator
//! qps = 20                           # optional, per account and product
//! endpoints = { resourcemanager = "https://resourcemanager.aliyuncs.com" }   # optional
//! member_role = "ResourceDirectoryAccountAccessRole"   # optional, the default
//! member_external_id = "..."         # optional
//! include = ["/Production", "fd-...", "1234567890123456"]   # optional
//! exclude = ["1234567890123457"]     # optional
//! [resource_directory.assume_role]   # optional, as for an account
//! role_arn = "acs:ram::1234567890123456:role/org-reader"
//! ```

use anyhow::{Result, bail};
use ramsync_credentials::sts::AssumeRole;
use ramsync_engine::http_policy::Endpoints;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file `sync` and `serve` read when `--config` is not given, if it exists.
pub const DEFAULT_PATH: &str = "ramsync.toml";

/// One account to sync.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// The name its runs are recorded under.
    pub name: String,
    /// The credentials profile to start from; the default chain when absent.
    pub profile: Option<String>,
    /// Requests per second per product; the default when absent.
    pub qps: Option<u32>,
    /// Where its API calls go.
    pub endpoints: Endpoints,
    /// Roles assumed in turn, starting from the profile's credentials (the file gives at
    /// most one; the command line may give a chain).
    pub assume_roles: Vec<AssumeRole>,
    /// Where the account sits in a Resource Directory, when it was found in one.
    pub placement: Option<crate::directory::Placement>,
}

/// A parsed `ramsync.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    /// Its accounts, in file order.
    pub accounts: Vec<AccountConfig>,
    /// The Resource Directory whose accounts are synced too, if any.
    pub directory: Option<crate::directory::DirectoryConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    account: Vec<Spanned<RawAccount>>,
    resource_directory: Option<Spanned<RawDirectory>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    profile: Option<Spanned<String>>,
    qps: Option<Spanned<i64>>,
    endpoints: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    assume_role: Option<RawAssumeRole>,
    member_role: Option<Spanned<String>>,
    /// Any TOML value, checked here, so that its value is never quoted in an error.
    member_external_id: Option<Spanned<toml::Value>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<String>,
    profile: Option<Spanned<String>>,
    qps: Option<Spanned<i64>>,
    endpoints: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    assume_role: Option<RawAssumeRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumeRole {
    role_arn: Spanned<String>,
    /// Any TOML value, so that toml never reports (and quotes) a mistyped one: its type is
    /// checked here, and its value never shown, however the key is written.
    external_id: Option<Spanned<toml::Value>>,
    session_name: Option<Spanned<String>>,
    duration_seconds: Option<Spanned<i64>>,
    policy: Option<Spanned<String>>,
}

/// Whether `name` may name an account: letters, digits, '-', '_' and '.', at most 64.
pub fn is_valid_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `--account NAME`, checked as a config file's names are.
pub fn parse_account_arg(name: &str) -> Result<String, String> {
    if is_valid_account_name(name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{name:?} is not a valid account name; use letters, digits, '-', '_' and '.' (at most 64)"
        ))
    }
}

/// A mistake at a place in the file.
struct At<'a> {
    path: &'a Path,
    text: &'a str,
}

impl At<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    }

    fn error(&self, span: Range<usize>, key: &str, message: &str) -> anyhow::Error {
        let (line, col) = self.line_col(span.start);
        anyhow::anyhow!("{}:{line}:{col}: {key}: {message}", self.path.display())
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses the text of a config file; errors name `path` and the line.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let at = At { path, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start);
            let (line, col) = at.line_col(start);
            // A syntax error's message may quote the text; an ExternalId is never shown,
            // whether its key is bare, quoted, dotted or in an inline table.
            let line_text = text.lines().nth(line - 1).unwrap_or_default();
            let message = if line_text.contains("external_id") {
                "external_id: invalid value (not shown); it must be a string".to_string()
            } else {
                e.message().trim_end().to_string()
            };
            anyhow::anyhow!("{}:{line}:{col}: {message}", path.display())
        })?;
        if raw.account.is_empty() && raw.resource_directory.is_none() {
            bail!(
                "{}: no accounts; add at least one [[account]] table with a name, or a [resource_directory]",
                path.display()
            );
        }
        let mut accounts: Vec<AccountConfig> = Vec::new();
        for (i, entry) in raw.account.into_iter().enumerate() {
            let a = entry.into_inner();
            let name = a.name.get_ref().trim().to_string();
            let key = |k: &str| format!("account[{i}].{k}");
            if !is_valid_account_name(&name) {
                return Err(at.error(
                    a.name.span(),
                    &key("name"),
                    &format!(
                        "{:?} is not a valid account name; use letters, digits, '-', '_' and '.'",
                        a.name.get_ref()
                    ),
                ));
            }
            let key = |k: &str| format!("account {name:?}: {k}");
            if accounts.iter().any(|b| b.name == name) {
                return Err(at.error(
                    a.name.span(),
                    &key("name"),
                    "this name is used by another account; names must be unique",
                ));
            }
            let profile = at.profile(a.profile, &key)?;
            let qps = at.qps(a.qps, &key)?;
            let endpoints = at.endpoints(a.endpoints, &key)?;
            let assume_roles = at.assume_role(a.assume_role, &key)?;
            accounts.push(AccountConfig {
                name,
                profile,
                qps,
                endpoints,
                assume_roles,
                placement: None,
            });
        }
        let directory = match raw.resource_directory {
            None => None,
            Some(d) => Some(at.directory(d.into_inner())?),
        };
        Ok(Config {
            path: path.to_path_buf(),
            accounts,
            directory,
        })
    }
}

impl At<'_> {
    fn profile(
        &self,
        profile: Option<Spanned<String>>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<String>> {
        match profile {
            Some(p) if p.get_ref().trim().is_empty() => {
                Err(self.error(p.span(), &key("profile"), "must not be empty"))
            }
            p => Ok(p.map(|p| p.into_inner())),
        }
    }

    fn qps(&self, qps: Option<Spanned<i64>>, key: &dyn Fn(&str) -> String) -> Result<Option<u32>> {
        match qps {
            Some(q) if !(1..=10_000).contains(q.get_ref()) => Err(self.error(
                q.span(),
                &key("qps"),
                &format!("{} is out of range; use 1 to 10000", q.get_ref()),
            )),
            q => Ok(q.map(|q| *q.get_ref() as u32)),
        }
    }

    fn endpoints(
        &self,
        raw: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Endpoints> {
        let mut endpoints = Endpoints::default();
        for (product, url) in raw.unwrap_or_default() {
            if let Err(e) = endpoints.set(product.get_ref(), url.get_ref()) {
                let e = e.to_string().replace(" in --endpoint", "");
                return Err(self.error(
                    url.span(),
                    &key(&format!("endpoints.{}", product.get_ref())),
                    &e,
                ));
            }
        }
        Ok(endpoints)
    }

    /// An ExternalId: a non-empty string, its value never shown.
    fn external_id(&self, x: Spanned<toml::Value>, bare: &str, keyed: &str) -> Result<String> {
        let span = x.span();
        let Some(value) = x.get_ref().as_str().map(str::to_string) else {
            return Err(self.error(span, bare, "invalid value (not shown); it must be a string"));
        };
        if value.is_empty() {
            return Err(self.error(
                span,
                keyed,
                "must not be empty; leave the key out when the role needs none",
            ));
        }
        Ok(value)
    }

    fn directory(&self, d: RawDirectory) -> Result<crate::directory::DirectoryConfig> {
        let key = |k: &str| format!("resource_directory.{k}");
        let mut c = crate::directory::DirectoryConfig::new(self.endpoints(d.endpoints, &key)?);
        c.profile = self.profile(d.profile, &key)?;
        c.qps = self.qps(d.qps, &key)?;
        c.assume_roles = self.assume_role(d.assume_role, &key)?;
        if let Some(role) = d.member_role {
            c.role_name = crate::directory::parse_role_name(role.get_ref())
                .map_err(|e| self.error(role.span(), &key("member_role"), &e))?;
        }
        if let Some(x) = d.member_external_id {
            c.external_id =
                Some(self.external_id(x, "member_external_id", &key("member_external_id"))?);
        }
        for (list, into) in [(d.include, &mut c.include), (d.exclude, &mut c.exclude)] {
            for entry in list {
                let parsed = crate::directory::parse_selector(entry.get_ref())
                    .map_err(|e| self.error(entry.span(), &key("include/exclude"), &e))?;
                into.push(parsed);
            }
        }
        Ok(c)
    }

    fn assume_role(
        &self,
        raw: Option<RawAssumeRole>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Vec<AssumeRole>> {
        let at = self;
        Ok(match raw {
            None => Vec::new(),
            Some(r) => {
                let arn = r.role_arn.get_ref().trim();
                if !arn.starts_with("acs:ram::") || !arn.contains(":role/") {
                    return Err(at.error(
                            r.role_arn.span(),
                            &key("assume_role.role_arn"),
                            &format!(
                                "{arn:?} is not a role ARN like acs:ram::1234567890123456:role/ramsync-reader"
                            ),
                        ));
                }
                let mut spec = AssumeRole::new(arn);
                if let Some(d) = r.duration_seconds {
                    if !(900..=43_200).contains(d.get_ref()) {
                        return Err(at.error(
                            d.span(),
                            &key("assume_role.duration_seconds"),
                            &format!("{} is out of range; STS takes 900 to 43200", d.get_ref()),
                        ));
                    }
                    spec.duration_seconds = *d.get_ref() as u32;
                }
                if let Some(s) = r.session_name {
                    let ok = (2..=64).contains(&s.get_ref().len())
                        && s.get_ref()
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c));
                    if !ok {
                        return Err(at.error(
                            s.span(),
                            &key("assume_role.session_name"),
                            "must be 2 to 64 characters of letters, digits and . @ - _",
                        ));
                    }
                    spec.session_name = s.into_inner();
                }
                if let Some(x) = r.external_id {
                    spec.external_id =
                        Some(at.external_id(x, "external_id", &key("assume_role.external_id"))?);
                }
                if let Some(p) = r.policy {
                    if serde_json::from_str::<serde_json::Value>(p.get_ref()).is_err() {
                        return Err(at.error(
                            p.span(),
                            &key("assume_role.policy"),
                            "is not a JSON policy document",
                        ));
                    }
                    spec.policy = Some(p.into_inner());
                }
                vec![spec]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("ramsync.toml"), text)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn reads_a_resource_directory() {
        let c = parse(
            r#"
[resource_directory]
profile = "org-admin"
qps = 10
endpoints = { resourcemanager = "http://127.0.0.1:8080" }
member_role = "OrgReader"
member_external_id = "ext-1"
include = ["/Production/", "fd-abc"]
exclude = ["1234567890123456"]
[resource_directory.assume_role]
role_arn = "acs:ram::1234567890123456:role/org-reader"
"#,
        )
        .unwrap();
        assert!(c.accounts.is_empty());
        let d = c.directory.unwrap();
        assert_eq!(d.profile.as_deref(), Some("org-admin"));
        assert_eq!(d.qps, Some(10));
        assert_eq!(d.role_name, "OrgReader");
        assert_eq!(d.external_id.as_deref(), Some("ext-1"));
        assert_eq!(d.include, ["/Production", "fd-abc"]);
        assert_eq!(d.exclude, ["1234567890123456"]);
        assert_eq!(d.assume_roles.len(), 1);
        assert_eq!(
            d.endpoints.base_url("resourcemanager").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(!format!("{d:?}").contains("ext-1"));
        let d = parse("[resource_directory]\n").unwrap().directory.unwrap();
        assert_eq!(d.role_name, crate::directory::DEFAULT_ROLE);
        assert_eq!(
            error("[resource_directory]\ninclude = [\"prod\"]\n"),
            "ramsync.toml:2:12: resource_directory.include/exclude: \"prod\" is neither an account id (16 digits), a folder id (fd-... or r-...) nor a folder path (/Production/Web)"
        );
        assert_eq!(
            error("[resource_directory]\nmember_role = \"a b\"\n"),
            "ramsync.toml:2:15: resource_directory.member_role: \"a b\" is not a role name (letters, digits, '-' and '.', at most 64)"
        );
        let hidden = error("[resource_directory]\nmember_external_id = 73519\n");
        assert_eq!(
            hidden,
            "ramsync.toml:2:22: member_external_id: invalid value (not shown); it must be a string"
        );
        assert!(
            error("[resource_directory]\nmember_rol = \"x\"\n")
                .contains("unknown field `member_rol`")
        );
    }

    #[test]
    fn reads_the_documented_keys() {
        let c = parse(
            r#"
[[account]]
name = "prod"
profile = "default"
qps = 20
endpoints = { ram = "http://127.0.0.1:8080", ims = "http://127.0.0.1:8080", sts = "http://127.0.0.1:8080" }
[account.assume_role]
role_arn = "acs:ram::1234567890123456:role/ramsync-reader"
external_id = "abc"
session_name = "ramsync"
duration_seconds = 3600

[[account]]
name = "staging"
"#,
        )
        .unwrap();
        assert_eq!(c.accounts.len(), 2);
        let prod = &c.accounts[0];
        assert_eq!(prod.qps, Some(20));
        assert_eq!(prod.profile.as_deref(), Some("default"));
        assert_eq!(
            prod.endpoints.base_url("ims").unwrap(),
            "http://127.0.0.1:8080"
        );
        let role = &prod.assume_roles[0];
        assert_eq!(role.external_id.as_deref(), Some("abc"));
        assert_eq!(role.duration_seconds, 3600);
        assert_eq!(c.accounts[1].name, "staging");
        assert!(c.accounts[1].assume_roles.is_empty());
        assert_eq!(
            c.accounts[1].endpoints.base_url("ram").unwrap(),
            "https://ram.aliyuncs.com"
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        assert_eq!(
            error("[[account]]\nname = \"a\"\nqsp = 3\n"),
            "ramsync.toml:3:1: unknown field `qsp`, expected one of `name`, `profile`, `qps`, `endpoints`, `assume_role`"
        );
        assert_eq!(
            error("[[account]]\nname = \"a\"\nqps = 0\n"),
            "ramsync.toml:3:7: account \"a\": qps: 0 is out of range; use 1 to 10000"
        );
        assert_eq!(
            error("[[account]]\nname = \"a\"\nqps = \"fast\"\n"),
            "ramsync.toml:3:7: invalid type: string \"fast\", expected i64"
        );
        assert!(
            error("[[account]]\nprofile = \"x\"\n")
                .starts_with("ramsync.toml:1:1: missing field `name`")
        );
        assert_eq!(
            error("[[account]]\nname = \"a\"\n[[account]]\nname = \"a\"\n"),
            "ramsync.toml:4:8: account \"a\": name: this name is used by another account; names must be unique"
        );
        assert_eq!(
            error("[[account]]\nname = \"a\"\nendpoints = { ecs = \"http://x\" }\n"),
            "ramsync.toml:3:21: account \"a\": endpoints.ecs: unknown product \"ecs\"; expected one of ram, ims, sts, resourcemanager"
        );
        assert_eq!(
            error(
                "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"arn:aws:iam::1:role/x\"\n"
            ),
            "ramsync.toml:4:12: account \"a\": assume_role.role_arn: \"arn:aws:iam::1:role/x\" is not a role ARN like acs:ram::1234567890123456:role/ramsync-reader"
        );
        assert_eq!(
            error(
                "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\nduration_seconds = 60\n"
            ),
            "ramsync.toml:5:20: account \"a\": assume_role.duration_seconds: 60 is out of range; STS takes 900 to 43200"
        );
        assert!(error("[[account]\nname = 1").starts_with("ramsync.toml:1:"));
        let hidden = error(
            "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\nexternal_id = 73519\n",
        );
        assert_eq!(
            hidden,
            "ramsync.toml:5:15: external_id: invalid value (not shown); it must be a string"
        );
        // However the key is written, and whatever the mistyped value, it is never shown.
        for (text, shown_at) in [
            (
                "[[account]]\nname = \"a\"\nassume_role.role_arn = \"acs:ram::1:role/x\"\nassume_role.external_id = 73519\n",
                "4:27",
            ),
            (
                "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\n\"external_id\" = 73519\n",
                "5:17",
            ),
            (
                "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\n'external_id' = [73519]\n",
                "5:17",
            ),
            (
                "[[account]]\nname = \"a\"\nassume_role = { role_arn = \"acs:ram::1:role/x\", external_id = 73519.5 }\n",
                "3:63",
            ),
            (
                "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\nexternal_id = { id = \"73519\" }\n",
                "5:15",
            ),
        ] {
            let e = error(text);
            assert!(!e.contains("73519"), "{e}");
            assert_eq!(
                e,
                format!(
                    "ramsync.toml:{shown_at}: external_id: invalid value (not shown); it must be a string"
                )
            );
        }
        let syntax = error(
            "[[account]]\nname = \"a\"\n[account.assume_role]\nrole_arn = \"acs:ram::1:role/x\"\n  \"external_id\" = 73519x\n",
        );
        assert!(!syntax.contains("73519"), "{syntax}");
        assert_eq!(
            error("# nothing\n"),
            "ramsync.toml: no accounts; add at least one [[account]] table with a name, or a [resource_directory]"
        );
        assert_eq!(
            error("[[account]]\nname = \"prod east\"\n"),
            "ramsync.toml:2:8: account[0].name: \"prod east\" is not a valid account name; use letters, digits, '-', '_' and '.'"
        );
    }
}
