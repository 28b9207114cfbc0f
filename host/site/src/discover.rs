//! Installed packs across the packs base paths: `<root>/packs` first, then
//! `packs_base_paths` left to right. A pack found in an earlier path shadows one with
//! the same ref in a later path (first wins everywhere; st2's registration let the last
//! path win while its content loading let the first win). A pack whose
//! pack.yaml is missing or invalid is still listed, with its error.

use std::path::{Path, PathBuf};

use stackpack_core::pack::{MANIFEST_FILE_NAME, PackMeta, parse_pack_yaml};

use crate::error::SiteError;

/// One pack directory found in a base path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledPack {
    /// The ref: from pack.yaml when it is valid, else the directory name.
    #[serde(rename = "ref")]
    pub ref_: String,
    pub path: PathBuf,
    pub base_path: PathBuf,
    /// The parsed pack.yaml, or why it could not be read.
    #[serde(flatten)]
    pub meta: PackState,
    /// The path of the pack that hides this one, when an earlier base path has a pack
    /// with the same ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub enum PackState {
    #[serde(rename = "metadata")]
    Valid(Box<PackMeta>),
    #[serde(rename = "error")]
    Invalid(String),
}

impl InstalledPack {
    pub fn meta(&self) -> Option<&PackMeta> {
        match &self.meta {
            PackState::Valid(m) => Some(m),
            PackState::Invalid(_) => None,
        }
    }
    pub fn is_active(&self) -> bool {
        self.shadowed_by.is_none()
    }
}

/// The search path list: the system packs dir, then the extra paths, order-preserving
/// without duplicates.
pub fn search_paths(system: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in std::iter::once(system).chain(extra.iter().map(PathBuf::as_path)) {
        if !out.iter().any(|q| q == p) {
            out.push(p.to_path_buf());
        }
    }
    out
}

/// Reads one pack directory.
pub fn read_pack(dir: &Path, base_path: &Path) -> InstalledPack {
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest = dir.join(MANIFEST_FILE_NAME);
    let meta =
        match stackpack_fs::read_to_string_limited(&manifest, stackpack_core::yaml::MAX_FILE_BYTES)
        {
            Ok(text) => match parse_pack_yaml(&text, Some(&dir_name)) {
                Ok(m) => PackState::Valid(Box::new(m)),
                // One line per problem in the error; one line in a listing.
                Err(e) => PackState::Invalid(format!(
                    "{}: {}",
                    manifest.display(),
                    e.to_string().lines().collect::<Vec<_>>().join("; ")
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PackState::Invalid(format!(
                "Pack \"{}\" is missing {MANIFEST_FILE_NAME} file",
                dir.display()
            )),
            Err(e) => PackState::Invalid(format!("{}: {e}", manifest.display())),
        };
    let ref_ = match &meta {
        PackState::Valid(m) => m.ref_.clone(),
        PackState::Invalid(_) => dir_name,
    };
    InstalledPack {
        ref_,
        path: dir.to_path_buf(),
        base_path: base_path.to_path_buf(),
        meta,
        shadowed_by: None,
    }
}

/// Every pack directory in every base path, in search order (then by name). Missing
/// base paths are skipped; unreadable ones are an error naming the directory.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InstalledPack>, SiteError> {
    let mut packs: Vec<InstalledPack> = Vec::new();
    for base in paths {
        let entries = match std::fs::read_dir(base) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(SiteError::ReadDir {
                    path: base.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let mut pack = read_pack(&dir, base);
            pack.shadowed_by = packs
                .iter()
                .find(|p| p.is_active() && p.ref_ == pack.ref_)
                .map(|p| p.path.clone());
            packs.push(pack);
        }
    }
    Ok(packs)
}

/// The active (not shadowed) pack with this ref.
pub fn find<'a>(packs: &'a [InstalledPack], pack_ref: &str) -> Option<&'a InstalledPack> {
    packs.iter().find(|p| p.is_active() && p.ref_ == pack_ref)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pack(base: &Path, dir: &str, yaml: Option<&str>) {
        std::fs::create_dir_all(base.join(dir)).unwrap();
        if let Some(y) = yaml {
            std::fs::write(base.join(dir).join("pack.yaml"), y).unwrap();
        }
    }

    const OK: &str = "name: alpha\nversion: 1.0.0\ndescription: d\nauthor: a\n";

    #[test]
    fn search_paths_dedupe_in_order() {
        let p = search_paths(
            Path::new("/a"),
            &[
                PathBuf::from("/b"),
                PathBuf::from("/a"),
                PathBuf::from("/c"),
            ],
        );
        assert_eq!(
            p,
            vec![
                PathBuf::from("/a"),
                PathBuf::from("/b"),
                PathBuf::from("/c")
            ]
        );
    }

    #[test]
    fn finds_valid_invalid_and_shadowed() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        pack(&a, "alpha", Some(OK));
        pack(&a, "broken", Some("name: [unclosed\n"));
        pack(&a, "nometa", None);
        pack(&b, "alpha", Some(OK));
        pack(&b, ".git", None);
        let found = discover(&[a.clone(), b.clone(), d.path().join("missing")]).unwrap();
        let refs: Vec<_> = found.iter().map(|p| p.ref_.as_str()).collect();
        assert_eq!(refs, vec!["alpha", "broken", "nometa", "alpha"]);
        assert!(found[0].meta().is_some());
        assert!(matches!(&found[1].meta, PackState::Invalid(e) if e.contains("pack.yaml")));
        assert!(matches!(&found[2].meta, PackState::Invalid(e) if e.contains("missing pack.yaml")));
        assert_eq!(found[3].shadowed_by, Some(a.join("alpha")));
        assert_eq!(find(&found, "alpha").unwrap().base_path, a);
    }
}
