//! Plugins added with `stackpack plugin add`: the component as
//! `<root>/plugins/<name>.wasm` and its manifest as `<root>/plugins/<name>.toml`
//! (source, pinned sha256, kind, order, grants, limits, config). Both are written
//! atomically (`stackpack_fs::write_atomic`: temporary file, sync, rename, directory
//! sync); the `.wasm` is renamed into place before its manifest, so a manifest
//! never names a component that is not there yet.
//!
//! The manifest's `sha256` is the pin: whoever loads the plugin hashes the bytes it
//! reads and refuses them when they differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use crate::error::SiteError;
use crate::root::{PLUGINS_DIR, Root};
use crate::settings::DeclaredKind;

/// One added plugin, as stored in `<root>/plugins/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginManifest {
    pub name: String,
    pub kind: DeclaredKind,
    /// Where it was added from: a redacted URL or an absolute path.
    pub source: String,
    /// The pin: sha256 of the `.wasm` bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The WIT API version the component targeted when it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Position in its chain (lower first; ties by name).
    #[serde(default)]
    pub order: i64,
    /// The plugin's grants (`scheme://host[:port]`); it gets nothing else.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    /// Values the plugin reads with `config-get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Checks that a plugin name can be a file name and a config table key:
/// 1–64 characters, ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a usable plugin name: use 1 to 64 ASCII letters, digits, `-` or `_`, starting with a letter or digit"
        ))
    }
}

/// Writes `dir/file` atomically (`stackpack_fs::write_atomic`: temporary file, sync,
/// rename, directory sync); `dir` is created if needed. Used for cached plugin downloads
/// too.
pub fn write_file_atomic(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), SiteError> {
    let err = |action: &'static str, e: std::io::Error| SiteError::PluginStore {
        action,
        path: dir.join(file),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err("create", e))?;
    stackpack_fs::write_atomic(&dir.join(file), bytes, stackpack_fs::Mode::Default)
        .map_err(|e| err("write", e))
}

/// The added plugins of one root.
#[derive(Debug, Clone)]
pub struct PluginStore {
    dir: PathBuf,
}

impl PluginStore {
    pub fn new(root: &Root) -> PluginStore {
        PluginStore {
            dir: root.plugins_dir(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn wasm_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    /// Every manifest, sorted by name. No directory means no added plugins.
    pub fn list(&self) -> Result<Vec<PluginManifest>, SiteError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_error("read", &self.dir, &e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error("read", &self.dir, &e))?;
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            // Temporary files of an interrupted write start with a dot.
            if let Some(name) = file.strip_suffix(".toml")
                && !file.starts_with('.')
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        names.iter().map(|n| self.read_manifest(n)).collect()
    }

    /// The manifest of `name`, if it was added.
    pub fn get(&self, name: &str) -> Result<Option<PluginManifest>, SiteError> {
        if check_name(name).is_err() || !self.manifest_path(name).is_file() {
            return Ok(None);
        }
        self.read_manifest(name).map(Some)
    }

    fn read_manifest(&self, name: &str) -> Result<PluginManifest, SiteError> {
        let path = self.manifest_path(name);
        let invalid = |reason: String| SiteError::PluginManifest {
            path: path.clone(),
            name: name.to_string(),
            reason,
        };
        let text = stackpack_fs::read_to_string_limited(&path, crate::settings::MAX_CONFIG_BYTES)
            .map_err(|e| invalid(e.to_string()))?;
        let m: PluginManifest = toml::from_str(&text)
            .map_err(|e| invalid(crate::settings::describe_toml_error(&text, &e)))?;
        if m.name != name {
            return Err(invalid(format!(
                "it names the plugin {:?}, not {name:?} as its file name does",
                m.name
            )));
        }
        if crate::settings::normalize_sha256(&m.sha256).as_deref() != Some(m.sha256.as_str()) {
            return Err(invalid(
                "`sha256` is not 64 lower-case hex digits".to_string(),
            ));
        }
        Ok(m)
    }

    /// Stores the component and then its manifest, each atomically, creating the
    /// root's layout if needed. Replaces an existing plugin of the same name.
    pub fn add(
        &self,
        root: &Root,
        manifest: &PluginManifest,
        wasm: &[u8],
    ) -> Result<(), SiteError> {
        check_name(&manifest.name).map_err(|reason| SiteError::PluginManifest {
            path: self.manifest_path(&manifest.name),
            name: manifest.name.clone(),
            reason,
        })?;
        let text = toml::to_string(manifest).map_err(|e| SiteError::PluginManifest {
            path: self.manifest_path(&manifest.name),
            name: manifest.name.clone(),
            reason: e.to_string(),
        })?;
        let root_dir = root.ensure()?;
        root_dir
            .create_dir_all(PLUGINS_DIR)
            .map_err(|e| self.io_error("create", &self.dir, &e))?;
        let header = format!(
            "# Added by `stackpack plugin add`; `stackpack plugin remove {}` deletes it.\n",
            manifest.name
        );
        self.write_atomic(&format!("{}.wasm", manifest.name), wasm)?;
        self.write_atomic(
            &format!("{}.toml", manifest.name),
            format!("{header}{text}").as_bytes(),
        )
    }

    /// Deletes the manifest and then the component. False when neither existed.
    pub fn remove(&self, name: &str) -> Result<bool, SiteError> {
        if check_name(name).is_err() {
            return Ok(false);
        }
        let dir = match Dir::open_ambient_dir(&self.dir, cap_std::ambient_authority()) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io_error("open", &self.dir, &e)),
        };
        let mut removed = false;
        for file in [format!("{name}.toml"), format!("{name}.wasm")] {
            match dir.remove_file(&file) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_error("remove", &self.dir.join(&file), &e)),
            }
        }
        Ok(removed)
    }

    fn write_atomic(&self, file: &str, bytes: &[u8]) -> Result<(), SiteError> {
        let path = self.dir.join(file);
        stackpack_fs::write_atomic(&path, bytes, stackpack_fs::Mode::Default)
            .map_err(|e| self.io_error("write", &path, &e))
    }

    fn io_error(&self, action: &'static str, path: &Path, e: &std::io::Error) -> SiteError {
        SiteError::PluginStore {
            action,
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(name: &str) -> PluginManifest {
        PluginManifest {
            name: name.into(),
            kind: DeclaredKind::Resolver,
            source: "/src/x.wasm".into(),
            sha256: "ab".repeat(32),
            api_version: Some("0.1.0".into()),
            order: -5,
            hosts: vec!["https://packs.corp.example".into()],
            memory_mib: Some(32),
            time_ms: None,
            config: BTreeMap::from([("k".to_string(), "v".to_string())]),
        }
    }

    #[test]
    fn add_list_get_remove() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path().join("root"), None);
        let store = PluginStore::new(&root);
        assert!(store.list().unwrap().is_empty());
        store.add(&root, &manifest("corp-a"), b"wasm").unwrap();
        store.add(&root, &manifest("b_2"), b"wasm2").unwrap();
        let names: Vec<_> = store.list().unwrap().into_iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["b_2", "corp-a"]);
        assert_eq!(store.get("corp-a").unwrap().unwrap(), manifest("corp-a"));
        assert_eq!(std::fs::read(store.wasm_path("b_2")).unwrap(), b"wasm2");
        assert!(store.get("nope").unwrap().is_none());
        assert!(store.remove("corp-a").unwrap());
        assert!(!store.remove("corp-a").unwrap());
        assert!(!store.wasm_path("corp-a").exists());
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn bad_manifests_and_names() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path().join("root"), None);
        let store = PluginStore::new(&root);
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.manifest_path("x"), "name = \"y\"\n").unwrap();
        let e = store.list().unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("plugin remove x"), "{e}");
        for bad in ["", "../x", "a b", "-x", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("corp-resolver_2").is_ok());
    }
}
