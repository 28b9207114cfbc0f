//! The on-disk layout under the root (`--root`, default `/opt/stackstorm`):
//!
//! ```text
//! <root>/packs/            system packs dir, searched first; installs go here
//! <root>/virtualenvs/<pack>/
//! <root>/configs/<pack>.yaml
//! <root>/overrides/{_global,<pack>}.yaml
//! <root>/registry.db
//! <root>/cache/            indexes, git mirrors, compiled plugin code
//! <root>/plugins/<name>.{wasm,toml}   added plugins and their manifests
//! <root>/stackpack.lock
//! <root>/stackpack.toml    default config file
//! ```
//!
//! Read-only commands never create anything; [`Root::ensure`] creates the layout on
//! first write and hands back a capability handle that every later write goes through.

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::error::SiteError;

pub const PACKS_DIR: &str = "packs";
pub const VIRTUALENVS_DIR: &str = "virtualenvs";
pub const CONFIGS_DIR: &str = "configs";
pub const OVERRIDES_DIR: &str = "overrides";
pub const CACHE_DIR: &str = "cache";
pub const REGISTRY_DB: &str = "registry.db";
pub const LOCKFILE: &str = "stackpack.lock";
/// Packs st2 was not told about (a failed handoff), sent with the next one.
pub const ST2_PENDING: &str = ".stackpack-st2-pending.json";
pub const CONFIG_FILE: &str = "stackpack.toml";
pub const PLUGINS_DIR: &str = "plugins";

/// The root and the paths derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
    cache: PathBuf,
}

impl Root {
    /// `cache_dir` overrides `<root>/cache` (e.g. a cache shared between roots).
    pub fn new(path: impl Into<PathBuf>, cache_dir: Option<PathBuf>) -> Root {
        let path = path.into();
        let cache = cache_dir.unwrap_or_else(|| path.join(CACHE_DIR));
        Root { path, cache }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn packs_dir(&self) -> PathBuf {
        self.path.join(PACKS_DIR)
    }
    pub fn virtualenvs_dir(&self) -> PathBuf {
        self.path.join(VIRTUALENVS_DIR)
    }
    pub fn configs_dir(&self) -> PathBuf {
        self.path.join(CONFIGS_DIR)
    }
    pub fn overrides_dir(&self) -> PathBuf {
        self.path.join(OVERRIDES_DIR)
    }
    pub fn registry_db(&self) -> PathBuf {
        self.path.join(REGISTRY_DB)
    }
    pub fn lockfile(&self) -> PathBuf {
        self.path.join(LOCKFILE)
    }
    /// Packs a failed handoff did not tell st2 about: `{"packs": [...]}`.
    pub fn st2_pending(&self) -> PathBuf {
        self.path.join(ST2_PENDING)
    }
    pub fn default_config(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }
    /// Plugins added with `stackpack plugin add`: `<name>.wasm` and `<name>.toml`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.path.join(PLUGINS_DIR)
    }
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// Creates the root and its directories if needed and opens a capability handle
    /// on the root. Permission problems name the directory and the way out.
    pub fn ensure(&self) -> Result<Dir, SiteError> {
        create(&self.path)?;
        let root = Dir::open_ambient_dir(&self.path, ambient_authority())
            .map_err(|e| create_error(&self.path, &e))?;
        for sub in [PACKS_DIR, VIRTUALENVS_DIR, CONFIGS_DIR, OVERRIDES_DIR] {
            root.create_dir_all(sub)
                .map_err(|e| create_error(&self.path.join(sub), &e))?;
        }
        create(&self.cache)?;
        Ok(root)
    }

    /// Creates the cache dir only (for commands that merely cache things).
    pub fn ensure_cache(&self) -> Result<&Path, SiteError> {
        create(&self.cache)?;
        Ok(&self.cache)
    }
}

fn create(path: &Path) -> Result<(), SiteError> {
    std::fs::create_dir_all(path).map_err(|e| create_error(path, &e))
}

fn create_error(path: &Path, e: &std::io::Error) -> SiteError {
    let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
        "Run as a user who may write there (e.g. with sudo), or choose another root with --root DIR or STACKPACK_ROOT".to_string()
    } else {
        "Check the path, or choose another root with --root DIR or STACKPACK_ROOT".to_string()
    };
    SiteError::RootCreate {
        path: path.to_path_buf(),
        reason: e.to_string(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ensure_creates_the_layout() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path().join("r"), None);
        root.ensure().unwrap();
        for sub in ["packs", "virtualenvs", "configs", "overrides", "cache"] {
            assert!(d.path().join("r").join(sub).is_dir(), "{sub}");
        }
    }

    #[test]
    fn permission_problem_is_explained() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let err = Root::new(blocker.join("root"), None)
            .ensure()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--root"), "{err}");
        assert!(err.contains("file/root"), "{err}");
    }
}
