//! Plugin manifests (`plugins.json`) and verification. A plugin is loaded only when its
//! file matches its manifest entry's sha256 and was built against a WIT version this host
//! accepts; what the entry declares (products, provisioning) is all the host grants it.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::borrow::Cow;
use std::path::Path;

/// The WIT package version this host was built with.
pub const WIT_VERSION: &str = env!("RAMSYNC_WIT_VERSION");
/// The WIT versions this host loads plugins of: semver-compatible with these, where a
/// 0.x minor version counts as a major one.
pub const ACCEPTED_WIT: &[&str] = &["0.2"];
/// The manifest file in a plugin directory.
pub const MANIFEST_FILE: &str = "plugins.json";
const FORMAT: u32 = 1;

/// What a plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Signs requests with a credential; exactly one per set.
    Signer,
    /// Lists (and may provision) resource types.
    Syncer,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Signer => "signer",
            Kind::Syncer => "syncer",
        })
    }
}

/// What a plugin may do; the default is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The API products it may call: ram, ims, sts.
    pub products: Vec<String>,
    /// Whether it may change access (grant and revoke).
    pub provisions: bool,
    /// Read actions beyond `List*` and `Get*` it may call while syncing, `product:Action`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The write actions its provisioner may call, `product:Action`; needs `provisions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provision_actions: Vec<String>,
}

impl Capabilities {
    /// The actions the host signs for this plugin.
    pub fn action_policy(&self) -> crate::action_policy::ActionPolicy {
        crate::action_policy::ActionPolicy::new(&self.actions, &self.provision_actions)
    }
}

/// One plugin's manifest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The plugin's name, unique in the manifest.
    pub name: String,
    /// The `.wasm` file beside the manifest.
    pub file: String,
    /// The plugin's own version.
    pub version: String,
    /// Signer or syncer.
    pub kind: Kind,
    /// The resource types a syncer lists; empty for the signer.
    pub resource_types: Vec<String>,
    /// The WIT version the component was built against.
    pub wit_version: String,
    /// The SHA-256 of the `.wasm` file, hex; the file is refused when it differs.
    pub sha256: String,
    /// What the plugin may do.
    pub capabilities: Capabilities,
}

/// A plugin directory's `plugins.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format version.
    pub format: u32,
    /// The plugins, in the order the scheduler runs them.
    pub plugins: Vec<Entry>,
}

/// A plugin whose bytes matched its manifest entry.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its manifest entry.
    pub entry: Entry,
    /// The component's bytes.
    pub wasm: Cow<'static, [u8]>,
}

/// Whether `version` is compatible with one this host accepts.
pub fn accepts(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
        return false;
    }
    let line = if parts[0] == "0" {
        format!("0.{}", parts[1])
    } else {
        parts[0].to_string()
    };
    ACCEPTED_WIT.contains(&line.as_str())
}

/// The accepted WIT versions, for messages: `0.2.x`.
pub fn accepted_list() -> String {
    ACCEPTED_WIT
        .iter()
        .map(|v| format!("{v}.x"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Manifest {
    /// Parses a manifest; errors name `origin`.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let m: Manifest = serde_json::from_str(text)
            .with_context(|| format!("{origin}: not a valid plugin manifest"))?;
        if m.format != FORMAT {
            bail!(
                "{origin}: manifest format {} is not supported (expected {FORMAT})",
                m.format
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for e in &m.plugins {
            if !names.insert(e.name.as_str()) {
                bail!("{origin}: plugin {:?} is listed twice", e.name);
            }
        }
        Ok(m)
    }

    /// The manifest as pretty JSON, as `plugins add` writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serializes") + "\n"
    }
}

/// Checks one entry against the file's bytes; the error is one line naming the reason.
pub fn check(entry: &Entry, wasm: &[u8]) -> std::result::Result<(), String> {
    let actual = sha256_hex(wasm);
    if !actual.eq_ignore_ascii_case(&entry.sha256) {
        return Err(format!(
            "sha256 mismatch: the manifest says {}, the file is {actual}",
            entry.sha256
        ));
    }
    if !accepts(&entry.wit_version) {
        return Err(format!(
            "built against WIT {}; this host accepts {}",
            entry.wit_version,
            accepted_list()
        ));
    }
    for p in &entry.capabilities.products {
        if !ramsync_model::PRODUCTS.iter().any(|(known, _)| known == p) {
            return Err(format!(
                "declares unknown product {p:?}; expected ram, ims or sts"
            ));
        }
    }
    let c = &entry.capabilities;
    if entry.kind == Kind::Signer
        && (!c.products.is_empty()
            || c.provisions
            || !c.actions.is_empty()
            || !c.provision_actions.is_empty())
    {
        return Err("a signer may declare no products, actions or provisioning".into());
    }
    for action in c.actions.iter().chain(&c.provision_actions) {
        crate::action_policy::check_entry(action)?;
    }
    if !c.provision_actions.is_empty() && !c.provisions {
        return Err("provision_actions need \"provisions\": true".into());
    }
    Ok(())
}

/// The plugins embedded in the binary, checked like any others.
pub fn builtin() -> Result<Vec<Verified>> {
    let manifest = Manifest::parse(crate::builtin::MANIFEST, "the built-in plugins.json")?;
    manifest
        .plugins
        .into_iter()
        .map(|entry| {
            let wasm = crate::builtin::wasm(&entry.file)
                .with_context(|| format!("built-in plugin {} has no embedded file", entry.name))?;
            check(&entry, wasm)
                .map_err(|e| anyhow::anyhow!("built-in plugin {}: {e}", entry.name))?;
            Ok(Verified {
                entry,
                wasm: Cow::Borrowed(wasm),
            })
        })
        .collect()
}

/// What a directory holds: the verified plugins, and one line per file that was refused.
pub struct DirReport {
    /// The plugins whose bytes matched the manifest.
    pub verified: Vec<Verified>,
    /// One line per refused file, saying why.
    pub refused: Vec<String>,
}

/// Reads and verifies a plugin directory. `.wasm` files without an entry are refused too.
pub fn read_dir(dir: &Path) -> Result<DirReport> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "cannot read {}; a plugin directory needs one (`ramsync plugins export DIR` writes one)",
            manifest_path.display()
        )
    })?;
    let manifest = Manifest::parse(&text, &manifest_path.display().to_string())?;
    let mut report = DirReport {
        verified: Vec::new(),
        refused: Vec::new(),
    };
    let mut listed = std::collections::BTreeSet::new();
    for entry in manifest.plugins {
        listed.insert(entry.file.clone());
        let path = dir.join(&entry.file);
        if entry.file.contains('/') || entry.file.contains('\\') || !entry.file.ends_with(".wasm") {
            report.refused.push(format!(
                "{}: refused: the file must be a .wasm file name in the directory",
                path.display()
            ));
            continue;
        }
        match std::fs::read(&path) {
            Err(e) => report
                .refused
                .push(format!("{}: refused: cannot read it: {e}", path.display())),
            Ok(wasm) => match check(&entry, &wasm) {
                Err(e) => report
                    .refused
                    .push(format!("{}: refused: {e}", path.display())),
                Ok(()) => report.verified.push(Verified {
                    entry,
                    wasm: Cow::Owned(wasm),
                }),
            },
        }
    }
    let mut unlisted: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the plugin directory {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".wasm") && !listed.contains(f))
        .collect();
    unlisted.sort();
    for f in unlisted {
        report.refused.push(format!(
            "{}: refused: no entry in {MANIFEST_FILE}",
            dir.join(f).display()
        ));
    }
    Ok(report)
}

/// The plugins to run: the built-in ones, or a verified directory (all or nothing).
pub fn load_set(dir: Option<&Path>) -> Result<Vec<Verified>> {
    let Some(dir) = dir else {
        return builtin();
    };
    let report = read_dir(dir)?;
    if !report.refused.is_empty() {
        bail!(
            "{} plugin(s) in {} failed verification; nothing was loaded:\n  {}",
            report.refused.len(),
            dir.display(),
            report.refused.join("\n  ")
        );
    }
    Ok(report.verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_versions() {
        assert!(accepts(WIT_VERSION));
        assert!(accepts("0.2.7"));
        assert!(!accepts("0.1.0"));
        assert!(!accepts("0.3.0"));
        assert!(!accepts("1.2.0"));
        assert!(!accepts("0.2"));
        assert!(!accepts("x.y.z"));
    }

    #[test]
    fn the_built_in_manifest_matches_the_embedded_files() {
        let set = builtin().unwrap();
        assert_eq!(set[0].entry.kind, Kind::Signer);
        assert!(set.len() >= 6);
        for v in &set {
            assert_eq!(v.entry.sha256, sha256_hex(&v.wasm));
            assert_eq!(v.entry.wit_version, WIT_VERSION);
        }
    }
}
