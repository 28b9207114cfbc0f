//! Writing fetched trees (git exports, archive contents, copied directories) into a
//! destination directory handle. Every write goes through the `cap_std` handle, so no
//! path can leave it; on top of that, entry paths and symlink targets are checked so the
//! written tree is self-contained: no absolute or `..` paths, no symlink that points out
//! of the tree, no device files, and never a `.git` directory (a planted `.git/config`
//! could run commands when git is later used in the pack directory).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};

use crate::FetchError;

/// Fails unless `dest` has no entries.
pub(crate) fn ensure_empty(dest: &Dir) -> Result<(), FetchError> {
    let mut entries = dest.entries().map_err(|e| FetchError::Write {
        entry: ".".into(),
        source: e,
    })?;
    if entries.next().is_some() {
        return Err(FetchError::DestNotEmpty);
    }
    Ok(())
}

/// Whether a path component is `.git`, in any case (case-insensitive file systems).
pub(crate) fn is_dot_git(name: &OsStr) -> bool {
    name.eq_ignore_ascii_case(".git")
}

/// An entry path made relative and plain: `.` components dropped; absolute paths and
/// `..` components refused (the reason is returned). May return an empty path (the root).
pub(crate) fn clean_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("its path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
        }
    }
    Ok(out)
}

/// Checks that a symlink at `link` (a clean path relative to the tree root) with target
/// `target` resolves inside the tree. The rule is lexical and sound without looking at
/// the other entries: the target is relative, its `..` components all come first and climb
/// at most to the tree root, and the rest descends. (A `..` after a name is refused: the
/// name could itself be a symlink, e.g. to `.`, and `..` would then climb out.)
pub(crate) fn check_symlink(link: &Path, target: &Path) -> Result<(), String> {
    if target.as_os_str().is_empty() {
        return Err("its symlink target is empty".into());
    }
    let depth = link.components().count().saturating_sub(1);
    let mut ups = 0usize;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "it is a symlink to the absolute path {}",
                    target.display()
                ));
            }
            Component::CurDir => {}
            Component::ParentDir if descended => {
                return Err(format!(
                    "it is a symlink to {}, which has `..` after a directory name",
                    target.display()
                ));
            }
            Component::ParentDir => {
                ups += 1;
                if ups > depth {
                    return Err(format!(
                        "it is a symlink to {}, outside the pack",
                        target.display()
                    ));
                }
            }
            Component::Normal(_) => descended = true,
        }
    }
    Ok(())
}

/// Writes entries into `dest`; `origin` (a redacted URL or a path) names the source in
/// errors.
pub(crate) struct Sink<'a> {
    dest: &'a Dir,
    origin: String,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(dest: &'a Dir, origin: String) -> Sink<'a> {
        Sink { dest, origin }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> FetchError {
        FetchError::UnsafeEntry {
            origin: self.origin.clone(),
            entry: entry.display().to_string(),
            reason: reason.into(),
        }
    }

    fn write_err(entry: &Path, source: io::Error) -> FetchError {
        FetchError::Write {
            entry: entry.display().to_string(),
            source,
        }
    }

    /// Whether `rel` lies in a `.git` directory (or is one): such entries are skipped.
    fn skipped(&self, rel: &Path) -> bool {
        if rel.components().any(|c| is_dot_git(c.as_os_str())) {
            tracing::warn!(origin = %self.origin, entry = %rel.display(), "skipping a .git entry");
            return true;
        }
        false
    }

    pub(crate) fn dir(&self, rel: &Path) -> Result<(), FetchError> {
        if rel.as_os_str().is_empty() || self.skipped(rel) {
            return Ok(());
        }
        self.dest
            .create_dir_all(rel)
            .map_err(|e| Self::write_err(rel, e))
    }

    fn parent(&self, rel: &Path) -> Result<(), FetchError> {
        match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => self
                .dest
                .create_dir_all(p)
                .map_err(|e| Self::write_err(p, e)),
            _ => Ok(()),
        }
    }

    /// A regular file, mode 0755 when `exec`, else 0644. An existing entry of that name
    /// (a duplicate in an archive) is refused rather than overwritten or written through.
    pub(crate) fn file(
        &self,
        rel: &Path,
        exec: bool,
        mut data: impl Read,
    ) -> Result<(), FetchError> {
        if self.skipped(rel) {
            return Ok(());
        }
        self.parent(rel)?;
        let mut file = self
            .dest
            .open_with(rel, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => self.unsafe_entry(rel, "it appears twice"),
                _ => Self::write_err(rel, e),
            })?;
        io::copy(&mut data, &mut file).map_err(|e| Self::write_err(rel, e))?;
        let mode = if exec { 0o755 } else { 0o644 };
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| Self::write_err(rel, e))
    }

    /// A symlink, only if [`check_symlink`] accepts it.
    pub(crate) fn symlink(&self, rel: &Path, target: &Path) -> Result<(), FetchError> {
        check_symlink(rel, target).map_err(|reason| self.unsafe_entry(rel, reason))?;
        if self.skipped(rel) {
            return Ok(());
        }
        self.parent(rel)?;
        self.dest.symlink(target, rel).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => self.unsafe_entry(rel, "it appears twice"),
            _ => Self::write_err(rel, e),
        })
    }

    /// A hard link to `target`, a file already written (both clean relative paths).
    pub(crate) fn hard_link(&self, rel: &Path, target: &Path) -> Result<(), FetchError> {
        if self.skipped(rel) || self.skipped(target) {
            return Ok(());
        }
        self.parent(rel)?;
        self.dest
            .hard_link(target, self.dest, rel)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => self.unsafe_entry(rel, "it appears twice"),
                _ => Self::write_err(rel, e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(link: &str, target: &str) -> bool {
        check_symlink(Path::new(link), Path::new(target)).is_ok()
    }

    #[test]
    fn symlink_rule() {
        assert!(ok("link", "run.sh"));
        assert!(ok("a/link", "../run.sh"));
        assert!(ok("a/b/link", "../../x/y"));
        assert!(ok("a/link", "./b/./c"));
        assert!(!ok("link", "../x"));
        assert!(!ok("a/link", "../../x"));
        assert!(!ok("link", "/etc/passwd"));
        assert!(!ok("link", "d/.."));
        assert!(!ok("a/link", "b/../../x"));
        assert!(!ok("link", ""));
    }

    #[test]
    fn path_cleaning() {
        assert_eq!(clean_path(Path::new("./a/./b")), Ok(PathBuf::from("a/b")));
        assert_eq!(clean_path(Path::new("./")), Ok(PathBuf::new()));
        assert!(clean_path(Path::new("../evil")).is_err());
        assert!(clean_path(Path::new("a/../../evil")).is_err());
        assert!(clean_path(Path::new("/etc/passwd")).is_err());
    }
}
