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
//! kind = "git"                     # git | archive | oci | local
//! url = "https://github.com/StackStorm-Exchange/stackstorm-sensu"
//! commit = "3f2a…"                 # git; `sha256` for archives
//! tag = "v1.2.0"                   # git, when a tag was asked for and matched
//! resolver = "github"
//! resolver_sha256 = "9e35…"
//! ```
//!
//! An OCI artifact records its reference without the digest as `url`
//! (`oci://host[:port]/repo[:tag]`), and `manifest_sha256` and `layer_sha256`: `install
//! --locked` pulls that manifest's layer by digest, so a tag moved since changes nothing.
//!
//! URLs are stored without credentials; they come from the config when needed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackpack_core::oci::OciRef;
use stackpack_core::{ArchiveFormat, GitRef, Origin, Pin, Sha256, Source, SourceKind};

use crate::error::InstallError;
use crate::resolve::Located;

/// One installed pack and exactly where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OnDisk", into = "OnDisk")]
pub struct LockedPack {
    pub ref_: String,
    pub version: String,
    /// Canonical identity from the resolver, e.g. `github.com/owner/repo`.
    pub canonical: String,
    /// The source that reproduces the pack, without credentials: a git source names its
    /// commit ([`GitRef::Commit`]), an archive its digest.
    pub source: Source,
    /// What the source resolved to.
    pub pin: Pin,
    /// The git tag the pin came from, when a tag matched: a later install of the same
    /// tag that resolves to another commit means the tag was moved.
    pub tag: Option<String>,
    pub resolver: String,
    pub resolver_sha256: String,
    /// Fingerprint of the installed tree on the root that installed it
    /// ([`crate::tree::tree_digest`]: names, modes, sizes, modification times, inodes),
    /// so a reinstall of the same commit can tell an intact pack (left alone) from a
    /// modified one (replaced) with one `stat` per entry.
    pub tree_sha256: Option<String>,
    /// Content digest of the installed tree ([`stackpack_fetch::TreeManifest`]: paths,
    /// modes, link targets and file bytes), the same on every machine. Recorded since
    /// trees are digested as they are written; lockfiles written before lack it.
    ///
    /// The rule for an installed tree ([`crate::tree::check`]): it is intact when its
    /// fingerprint equals `tree_sha256`; when it does not (another root wrote the
    /// lockfile, or the tree was copied), it is intact when its content digest equals
    /// this field. An entry without this field is checked by its fingerprint alone, as
    /// before, so an older lockfile never makes a pack look modified.
    pub tree_content_sha256: Option<String>,
}

impl LockedPack {
    /// Where the pack came from, as override policies see it
    /// (`git:github.com/o/r@<commit>`).
    pub fn origin(&self) -> Origin {
        Origin::Installed {
            kind: self.source.kind(),
            canonical: self.canonical.clone(),
            pin: self.pin.clone(),
        }
    }

    /// The entry as if a resolver had answered (`install --locked`).
    pub fn located(&self) -> Located {
        Located {
            source: self.source.clone(),
            canonical: self.canonical.clone(),
            resolver: self.resolver.clone(),
            resolver_sha256: self.resolver_sha256.clone(),
        }
    }
}

/// A `[[pack]]` table as written in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OnDisk {
    #[serde(rename = "ref")]
    ref_: String,
    version: String,
    source: String,
    kind: SourceKind,
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archive_format: Option<ArchiveFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifest_sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer_sha256: Option<Sha256>,
    resolver: String,
    resolver_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree_content_sha256: Option<String>,
}

impl TryFrom<OnDisk> for LockedPack {
    type Error = String;

    fn try_from(d: OnDisk) -> Result<LockedPack, String> {
        let missing =
            |field: &str| format!("pack \"{}\" ({} source) has no `{field}`", d.ref_, d.kind);
        let (source, pin) = match d.kind {
            SourceKind::Git => {
                let commit = d.commit.clone().ok_or_else(|| missing("commit"))?;
                (
                    Source::Git {
                        url: d.url,
                        git_ref: GitRef::Commit(commit.clone()),
                        subdir: d.subdir,
                    },
                    Pin::Commit(commit),
                )
            }
            SourceKind::Archive => {
                let sha256 = d.sha256.clone().ok_or_else(|| missing("sha256"))?;
                (
                    Source::Archive {
                        url: d.url,
                        sha256: sha256.clone(),
                        format: d.archive_format.unwrap_or(ArchiveFormat::TarGz),
                        strip_prefix: d.subdir,
                    },
                    Pin::Sha256(sha256),
                )
            }
            SourceKind::Oci => {
                let manifest = d
                    .manifest_sha256
                    .clone()
                    .ok_or_else(|| missing("manifest_sha256"))?;
                let layer = d
                    .layer_sha256
                    .clone()
                    .ok_or_else(|| missing("layer_sha256"))?;
                let reference: OciRef = d.url.parse().map_err(|e: stackpack_core::CoreError| {
                    format!("pack \"{}\" (oci source): {e}", d.ref_)
                })?;
                (
                    Source::Oci {
                        registry: reference.registry,
                        repository: reference.repository,
                        tag: reference.tag,
                        manifest: manifest.clone(),
                        layer: layer.clone(),
                    },
                    Pin::Oci { manifest, layer },
                )
            }
            SourceKind::Local => {
                let path = PathBuf::from(&d.url);
                if !path.is_absolute() {
                    return Err(format!(
                        "pack \"{}\" has a relative local path {}; local sources must be absolute",
                        d.ref_, d.url
                    ));
                }
                (
                    Source::Local { path },
                    d.commit.map_or(Pin::Unpinned, Pin::Commit),
                )
            }
        };
        Ok(LockedPack {
            ref_: d.ref_,
            version: d.version,
            canonical: d.source,
            source,
            pin,
            tag: d.tag,
            resolver: d.resolver,
            resolver_sha256: d.resolver_sha256,
            tree_sha256: d.tree_sha256,
            tree_content_sha256: d.tree_content_sha256,
        })
    }
}

impl From<LockedPack> for OnDisk {
    fn from(p: LockedPack) -> OnDisk {
        let kind = p.source.kind();
        let (manifest_sha256, layer_sha256) = match &p.source {
            Source::Oci {
                manifest, layer, ..
            } => (Some(manifest.clone()), Some(layer.clone())),
            _ => (None, None),
        };
        let oci_url = p.source.oci_tagged();
        let (url, subdir, archive_format) = match p.source {
            Source::Git { url, subdir, .. } => (url, subdir, None),
            Source::Oci { .. } => (oci_url.unwrap_or_default(), None, None),
            Source::Archive {
                url,
                format,
                strip_prefix,
                ..
            } => (url, strip_prefix, Some(format)),
            Source::Local { path } => (path.display().to_string(), None, None),
        };
        OnDisk {
            ref_: p.ref_,
            version: p.version,
            source: p.canonical,
            kind,
            url,
            subdir,
            commit: p.pin.commit().map(str::to_string),
            tag: p.tag,
            sha256: p.pin.sha256().cloned(),
            archive_format,
            manifest_sha256,
            layer_sha256,
            resolver: p.resolver,
            resolver_sha256: p.resolver_sha256,
            tree_sha256: p.tree_sha256,
            tree_content_sha256: p.tree_content_sha256,
        }
    }
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
    /// Reads the lockfile at `path` (missing: empty). A symlink or special file planted
    /// there is [`InstallError::Planted`]: never read (its target's content could end
    /// up in an error message) and, at the next write, replaced rather than followed.
    pub fn read(path: &Path) -> Result<Lockfile, InstallError> {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && !meta.is_file()
        {
            let what = if meta.is_symlink() {
                "a symlink"
            } else {
                "not a regular file"
            };
            return Err(InstallError::Planted {
                path: path.to_path_buf(),
                what: what.to_string(),
                role: "lockfile",
            });
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lockfile::default()),
            Err(e) => return Err(lock_err(path, e.to_string())),
        };
        Lockfile::parse(&text).map_err(|reason| lock_err(path, reason))
    }

    /// Parses a lockfile's text: version 1, every entry complete, each pack once, each
    /// ref a valid pack ref (it becomes a directory name under `packs/`).
    pub fn parse(text: &str) -> Result<Lockfile, String> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| e.to_string())?;
        if lock.version != 1 {
            return Err(format!(
                "version {} is not supported (this stackpack writes version 1)",
                lock.version
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &lock.packs {
            if !stackpack_core::is_valid_pack_ref(&p.ref_) {
                return Err(format!("pack ref {:?} is not a valid pack ref", p.ref_));
            }
            if !seen.insert(p.ref_.as_str()) {
                return Err(format!("pack \"{}\" is recorded twice", p.ref_));
            }
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
    /// named temp file beside it, synced, renamed over it, the directory synced), unless
    /// it already holds exactly this text: a run that changed nothing leaves it alone.
    pub fn write(&self, path: &Path) -> Result<(), InstallError> {
        let text = toml::to_string_pretty(self).map_err(|e| lock_err(path, e.to_string()))?;
        let header = "# Written by stackpack: what is installed and where it came from.\n\
                      # `stackpack install --locked` reinstalls exactly this.\n";
        stackpack_fs::write_atomic_if_changed(
            path,
            format!("{header}{text}").as_bytes(),
            stackpack_fs::Mode::Default,
        )
        .map(drop)
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
            canonical: format!("github.com/o/{r}"),
            source: Source::Git {
                url: format!("https://github.com/o/{r}"),
                git_ref: GitRef::Commit("a".repeat(40)),
                subdir: None,
            },
            pin: Pin::Commit("a".repeat(40)),
            tag: Some("v1.0.0".into()),
            resolver: "github".into(),
            resolver_sha256: "b".repeat(64),
            tree_sha256: None,
            tree_content_sha256: None,
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

    /// Safe outcome: an OCI entry keeps both digests and its tag through a write and a
    /// read, so `--locked` pulls the very manifest and layer that were installed.
    #[test]
    fn oci_entries_keep_both_digests() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("stackpack.lock");
        let (manifest, layer): (Sha256, Sha256) = (
            "1".repeat(64).parse().unwrap(),
            "2".repeat(64).parse().unwrap(),
        );
        let mut lock = Lockfile::default();
        lock.upsert(LockedPack {
            canonical: "127.0.0.1:5000/packs/hello".into(),
            source: Source::Oci {
                registry: "127.0.0.1:5000".into(),
                repository: "packs/hello".into(),
                tag: Some("1.0.0".into()),
                manifest: manifest.clone(),
                layer: layer.clone(),
            },
            pin: Pin::Oci {
                manifest: manifest.clone(),
                layer: layer.clone(),
            },
            tag: None,
            resolver: "oci".into(),
            ..entry("hello")
        });
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in [
            "kind = \"oci\"",
            "url = \"oci://127.0.0.1:5000/packs/hello:1.0.0\"",
            &format!("manifest_sha256 = \"{manifest}\""),
            &format!("layer_sha256 = \"{layer}\""),
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert_eq!(Lockfile::read(&path).unwrap(), lock);
        let e = Lockfile::parse(&text.replace("layer_sha256", "other")).unwrap_err();
        assert!(e.contains("has no `layer_sha256`"), "{e}");
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

    /// A lockfile as earlier versions wrote it: one pack of each kind.
    const EXISTING: &str = r#"# Written by stackpack: what is installed and where it came from.
version = 1

[[pack]]
ref = "arch"
version = "2.0.0"
source = "corp:tarball"
kind = "archive"
url = "https://packs.example/arch.zip"
subdir = "arch-2.0"
sha256 = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
archive_format = "zip"
resolver = "corp"
resolver_sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

[[pack]]
ref = "plain"
version = "0.1.0"
source = "file:///srv/plain"
kind = "local"
url = "/srv/plain"
resolver = "file"
resolver_sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
tree_sha256 = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

[[pack]]
ref = "sensu"
version = "1.2.0"
source = "github.com/stackstorm-exchange/stackstorm-sensu"
kind = "git"
url = "https://github.com/StackStorm-Exchange/stackstorm-sensu"
subdir = "pack"
commit = "3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a"
resolver = "github"
resolver_sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
"#;

    #[test]
    fn existing_lockfiles_read_and_rewrite_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("stackpack.lock");
        std::fs::write(&path, EXISTING).unwrap();
        let lock = Lockfile::read(&path).unwrap();
        let arch = lock.get("arch").unwrap();
        assert_eq!(
            arch.source,
            Source::Archive {
                url: "https://packs.example/arch.zip".into(),
                sha256: "c".repeat(64).parse().unwrap(),
                format: ArchiveFormat::Zip,
                strip_prefix: Some("arch-2.0".into()),
            }
        );
        assert_eq!(
            arch.origin().to_string(),
            format!("archive:corp:tarball@{}", "c".repeat(64))
        );
        assert_eq!(
            lock.get("plain").unwrap().origin().to_string(),
            "local:file:///srv/plain@"
        );
        let sensu = lock.get("sensu").unwrap();
        assert_eq!(
            sensu.origin().to_string(),
            "git:github.com/stackstorm-exchange/stackstorm-sensu@3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a"
        );
        assert_eq!(sensu.located().source, sensu.source);

        lock.write(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let as_value = |t: &str| toml::from_str::<toml::Value>(t).unwrap();
        assert_eq!(as_value(&written), as_value(EXISTING), "{written}");
    }

    #[test]
    fn an_entry_without_its_pin_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("stackpack.lock");
        let text = EXISTING.replace(
            "commit = \"3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a\"\n",
            "",
        );
        std::fs::write(&path, text).unwrap();
        let e = Lockfile::read(&path).unwrap_err().to_string();
        assert!(e.contains("\"sensu\"") && e.contains("`commit`"), "{e}");
        let text = EXISTING.replace("archive_format = \"zip\"", "archive_format = \"rar\"");
        std::fs::write(&path, text).unwrap();
        let e = Lockfile::read(&path).unwrap_err().to_string();
        assert!(e.contains("rar") && e.contains("stackpack.lock"), "{e}");
    }
}
