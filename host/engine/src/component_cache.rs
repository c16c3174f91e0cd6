//! An on-disk cache of compiled components, so a second start skips compilation.
//!
//! Entries are keyed by the wasm's sha256 and wasmtime's compatibility hash. Loading a
//! compiled component runs native code, so the cache only trusts files the host itself
//! wrote: a directory private to this user, files written atomically with mode 0600, owner
//! and mode checked again before every read, and each entry sealed with an HMAC-SHA256,
//! under a random key kept in the directory, over the wasm's digest and the compiled
//! bytes. An entry renamed to another wasm's name, or altered, fails the check and is
//! compiled afresh.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// Where the cache lives: `$RAMSYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/ramsync`, else
/// `~/.cache/ramsync`. An empty `RAMSYNC_CACHE_DIR` turns the cache off.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RAMSYNC_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(xdg).join("ramsync"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("ramsync"))
}

fn key(engine: &wasmtime::Engine, wasm: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!(
        "{}-{:016x}.cwasm",
        hex::encode(Sha256::digest(wasm)),
        hasher.finish()
    )
}

#[cfg(unix)]
fn private(path: &Path, dir: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let kind_ok = if dir { meta.is_dir() } else { meta.is_file() };
    kind_ok && meta.uid() == me && meta.mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn private(_path: &Path, _dir: bool) -> bool {
    false
}

/// The key file in the cache directory.
const KEY_FILE: &str = ".seal-key";
const TAG_LEN: usize = 32;

/// The cache's sealing key: read when private, else created (once, atomically, mode 0600).
#[cfg(unix)]
fn seal_key(dir: &Path, create: bool) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(KEY_FILE);
    if private(&path, false) {
        return std::fs::read(&path).ok().filter(|k| k.len() == 32);
    }
    if !create || path.exists() {
        return None;
    }
    let key: [u8; 32] = rand::random();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .ok()?;
    file.write_all(&key).ok()?;
    file.sync_all().ok()?;
    Some(key.to_vec())
}

#[cfg(not(unix))]
fn seal_key(_dir: &Path, _create: bool) -> Option<Vec<u8>> {
    None
}

/// The seal of an entry: the key over the wasm's digest and the compiled bytes.
fn seal(key: &[u8], wasm: &[u8], compiled: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"ramsync compiled component v1\0");
    mac.update(&Sha256::digest(wasm));
    mac.update(compiled);
    mac
}

/// Compiles `wasm`, or loads the compiled form this host cached for it earlier.
/// Returns the component and whether it came from the cache.
pub fn load_or_compile(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    dir: Option<&Path>,
) -> wasmtime::Result<(Component, bool)> {
    let Some(dir) = dir else {
        return Ok((Component::from_binary(engine, wasm)?, false));
    };
    let path = dir.join(key(engine, wasm));
    if private(dir, true)
        && private(&path, false)
        && let Some(key) = seal_key(dir, false)
        && let Ok(entry) = std::fs::read(&path)
        && entry.len() > TAG_LEN
    {
        let (tag, compiled) = entry.split_at(TAG_LEN);
        if seal(&key, wasm, compiled).verify_slice(tag).is_ok() {
            // SAFETY: the bytes are sealed with this cache's private key over this wasm's
            // digest, so this host compiled them from exactly this wasm; they are keyed by
            // wasmtime's compatibility hash.
            if let Ok(component) = unsafe { Component::deserialize(engine, compiled) } {
                return Ok((component, true));
            }
        } else {
            tracing::warn!(entry = %path.display(), "a cached compiled component failed its seal check; compiling afresh");
        }
    }
    let component = Component::from_binary(engine, wasm)?;
    if let Err(e) = store(dir, &path, wasm, &component) {
        tracing::debug!(error = %e, "not caching the compiled component");
    }
    Ok((component, false))
}

fn store(dir: &Path, path: &Path, wasm: &[u8], component: &Component) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        if !private(dir, true) {
            return Err(std::io::Error::other(
                "the cache directory is not private to this user",
            ));
        }
        let key = seal_key(dir, true)
            .ok_or_else(|| std::io::Error::other("the cache's seal key is not private"))?;
        let compiled = component.serialize().map_err(std::io::Error::other)?;
        let mut bytes = seal(&key, wasm, &compiled).finalize().into_bytes().to_vec();
        bytes.extend_from_slice(&compiled);
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, path, wasm, component);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_load_comes_from_the_cache_and_foreign_files_are_ignored() {
        let engine = wasmtime::Engine::default();
        let wasm = crate::builtin::signer();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (_, cached) = load_or_compile(&engine, wasm, Some(&cache)).unwrap();
        assert!(!cached);
        let (_, cached) = load_or_compile(&engine, wasm, Some(&cache)).unwrap();
        assert!(cached);

        // A file others could have written is not trusted.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let entry = cache.join(key(&engine, wasm));
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
            let (_, cached) = load_or_compile(&engine, wasm, Some(&cache)).unwrap();
            assert!(
                !cached,
                "a group- or world-writable entry must be recompiled"
            );
        }
        // A corrupt entry is recompiled rather than trusted.
        let entry = cache.join(key(&engine, wasm));
        std::fs::remove_file(&entry).ok();
        load_or_compile(&engine, wasm, Some(&cache)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&entry, b"not a compiled component").unwrap();
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (_, cached) = load_or_compile(&engine, wasm, Some(&cache)).unwrap();
        assert!(!cached);
    }

    #[test]
    fn an_entry_moved_to_another_wasms_name_or_altered_is_not_loaded() {
        let engine = wasmtime::Engine::default();
        let signer = crate::builtin::signer();
        let other = crate::builtin::wasm("users.wasm").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        load_or_compile(&engine, signer, Some(&cache)).unwrap();
        load_or_compile(&engine, other, Some(&cache)).unwrap();
        // Put the users syncer's compiled code where the signer's entry belongs: same owner,
        // same mode, a valid compiled component, but not the signer's.
        let signer_entry = cache.join(key(&engine, signer));
        std::fs::copy(cache.join(key(&engine, other)), &signer_entry).unwrap();
        let (component, cached) = load_or_compile(&engine, signer, Some(&cache)).unwrap();
        assert!(!cached, "a swapped entry must fail its seal");
        assert!(
            component
                .component_type()
                .exports(&engine)
                .any(|(name, _)| name.contains("/signer@")),
            "the signer is what was loaded"
        );
        // One flipped byte of compiled code fails the seal too.
        let mut bytes = std::fs::read(&signer_entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&signer_entry, &bytes).unwrap();
        let (_, cached) = load_or_compile(&engine, signer, Some(&cache)).unwrap();
        assert!(!cached);
        let (_, cached) = load_or_compile(&engine, signer, Some(&cache)).unwrap();
        assert!(cached, "the rewritten entry is trusted again");
    }
}
