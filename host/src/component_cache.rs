//! An on-disk cache of compiled components, so a second start skips compilation.
//!
//! Entries are keyed by the wasm's sha256 and wasmtime's compatibility hash. Loading a
//! compiled component runs native code, so the cache only trusts files the host itself
//! wrote: a directory private to this user, files written atomically with mode 0600, and
//! owner and mode checked again before every read.

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
    if private(dir, true) && private(&path, false) {
        // SAFETY: the file is in a directory only this user can write, was written by this
        // host (atomically, mode 0600), and is keyed by wasmtime's compatibility hash.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok((component, true));
        }
    }
    let component = Component::from_binary(engine, wasm)?;
    if let Err(e) = store(dir, &path, &component) {
        tracing::debug!(error = %e, "not caching the compiled component");
    }
    Ok((component, false))
}

fn store(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
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
        let bytes = component.serialize().map_err(std::io::Error::other)?;
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
        let _ = (dir, path, component);
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
}
