//! `<root>/stackpack.lock`: what is installed and exactly where it came from, so
//! `install --locked` reproduces it without asking any resolver.
//!
//! ```toml
//! version = 1
//!
//! [[pack]]
//! ref = "sensu"
//! version = "1.2.0"
//! source = "github.com/stackstorm-exchange/stackstorm-sensu"
//! kind = "git"                     # git | archive | local
//! url = "https://github.com/StackStorm-Exchange/stackstorm-sensu"
//! commit = "3f2a…"                 # git; `sha256` for archives
//! resolver = "github"
//! resolver_sha256 = "9e35…"
//! ```
//!
//! URLs are stored without credentials; they come from the config when needed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InstallError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Git,
    Archive,
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPack {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub version: String,
    /// Canonical identity from the resolver, e.g. `github.com/owner/repo`.
    pub source: String,
    pub kind: SourceKind,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_format: Option<String>,
    pub resolver: String,
    pub resolver_sha256: String,
    /// Digest of the installed tree ([`crate::tree::tree_digest`]), so a reinstall of the
    /// same commit can tell an intact pack (left alone) from a modified one (replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default, rename = "pack")]
    pub packs: Vec<LockedPack>,
}

impl Default for Lockfile {
    fn default() -> Self {
        Lockfile {
            version: 1,
            packs: Vec::new(),
        }
    }
}

impl Lockfile {
    /// Reads the lockfile; a missing one is empty.
    pub fn read(path: &Path) -> Result<Lockfile, InstallError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lockfile::default()),
            Err(e) => return Err(lock_err(path, e.to_string())),
        };
        let lock: Lockfile = toml::from_str(&text).map_err(|e| lock_err(path, e.to_string()))?;
        if lock.version != 1 {
            return Err(lock_err(
                path,
                format!(
                    "version {} is not supported (this stackpack writes version 1)",
                    lock.version
                ),
            ));
        }
        Ok(lock)
    }

    pub fn get(&self, pack: &str) -> Option<&LockedPack> {
        self.packs.iter().find(|p| p.ref_ == pack)
    }

    pub fn upsert(&mut self, entry: LockedPack) {
        self.packs.retain(|p| p.ref_ != entry.ref_);
        self.packs.push(entry);
        self.packs.sort_by(|a, b| a.ref_.cmp(&b.ref_));
    }

    pub fn remove(&mut self, pack: &str) {
        self.packs.retain(|p| p.ref_ != pack);
    }

    /// Writes `path` atomically and durably (`stackpack_fs::write_atomic`: a uniquely
    /// named temp file beside it, synced, renamed over it, the directory synced).
    pub fn write(&self, path: &Path) -> Result<(), InstallError> {
        let text = toml::to_string_pretty(self).map_err(|e| lock_err(path, e.to_string()))?;
        let header = "# Written by stackpack: what is installed and where it came from.\n\
                      # `stackpack install --locked` reinstalls exactly this.\n";
        stackpack_fs::write_atomic(
            path,
            format!("{header}{text}").as_bytes(),
            stackpack_fs::Mode::Default,
        )
        .map_err(InstallError::io("cannot write", path))
    }
}

fn lock_err(path: &Path, reason: String) -> InstallError {
    InstallError::Lockfile {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(r: &str) -> LockedPack {
        LockedPack {
            ref_: r.into(),
            version: "1.0.0".into(),
            source: format!("github.com/o/{r}"),
            kind: SourceKind::Git,
            url: format!("https://github.com/o/{r}"),
            subdir: None,
            commit: Some("a".repeat(40)),
            sha256: None,
            archive_format: None,
            resolver: "github".into(),
            resolver_sha256: "b".repeat(64),
            tree_sha256: None,
        }
    }

    #[test]
    fn round_trip_sorted() {
        let d = tempfile::tempdir().unwrap();
        let mut lock = Lockfile::default();
        lock.upsert(entry("zeta"));
        lock.upsert(entry("alpha"));
        lock.upsert(entry("zeta"));
        lock.write(&d.path().join("stackpack.lock")).unwrap();
        let back = Lockfile::read(&d.path().join("stackpack.lock")).unwrap();
        assert_eq!(back, lock);
        assert_eq!(
            back.packs
                .iter()
                .map(|p| p.ref_.as_str())
                .collect::<Vec<_>>(),
            ["alpha", "zeta"]
        );
    }

    #[test]
    fn a_failed_write_keeps_what_was_there_and_no_temp_file() {
        // The lockfile's name is taken by a non-empty directory: the final rename fails
        // after the new content was written and synced.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("stackpack.lock");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"old").unwrap();
        let mut lock = Lockfile::default();
        lock.upsert(entry("alpha"));
        let e = lock.write(&path).unwrap_err();
        assert!(e.to_string().contains("stackpack.lock"), "{e}");
        assert_eq!(std::fs::read(path.join("keep")).unwrap(), b"old");
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["stackpack.lock"]);
    }

    #[test]
    fn bad_lockfile_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stackpack.lock");
        std::fs::write(&p, "version = 7\n").unwrap();
        let e = Lockfile::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("stackpack.lock") && e.contains("version 7"),
            "{e}"
        );
        assert_eq!(
            Lockfile::read(&d.path().join("none")).unwrap(),
            Lockfile::default()
        );
    }
}
