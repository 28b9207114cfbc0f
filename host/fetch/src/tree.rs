//! Writing fetched trees (git exports, archive contents, copied directories) into a
//! destination directory handle. Every write goes through the `cap_std` handle, so no
//! path can leave it; on top of that, entry paths and symlink targets are checked so the
//! written tree is self-contained: no absolute or `..` paths, no symlink that points out
//! of the tree, no device files, and never a `.git` directory (a planted `.git/config`
//! could run commands when git is later used in the pack directory). No entry is
//! written through a symlink the tree made earlier (each directory is opened without
//! following links), so the depth of a path as written is its real depth, and
//! [`verify_tree`] checks the finished tree as the filesystem resolves it.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
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

/// Size limits on one fetched tree (an archive's content, a git tree, a local
/// directory), so a small download cannot fill the disk or take hours to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Entries (files, directories, links), at most.
    pub max_entries: u64,
    /// Bytes of file content in the whole tree, at most.
    pub max_bytes: u64,
    /// Bytes of one file, at most.
    pub max_file_bytes: u64,
}

impl TreeLimits {
    /// The setting of [`TreeLimits::max_entries`] in stackpack.toml.
    pub const ENTRIES_SETTING: &'static str = "max_pack_entries";
    /// The setting of [`TreeLimits::max_bytes`] (in MiB) in stackpack.toml.
    pub const BYTES_SETTING: &'static str = "max_pack_size_mib";
    /// The setting of [`TreeLimits::max_file_bytes`] (in MiB) in stackpack.toml.
    pub const FILE_BYTES_SETTING: &'static str = "max_pack_file_mib";
}

impl Default for TreeLimits {
    /// 20,000 entries, 512 MiB in all, 128 MiB per file: several times the largest
    /// packs of the StackStorm Exchange (aws has about 3,600 files).
    fn default() -> Self {
        TreeLimits {
            max_entries: 20_000,
            max_bytes: 512 << 20,
            max_file_bytes: 128 << 20,
        }
    }
}

/// Writes entries into `dest`; `origin` (a redacted URL or a path) names the source in
/// errors. Nothing is created or written through a symlink: each directory on an
/// entry's path is opened without following links, so a link the tree wrote earlier
/// (`a/b -> ..`) cannot make a later entry (`a/b/...`) land elsewhere; such an entry is
/// refused. Entries and bytes are counted against the [`TreeLimits`].
pub(crate) struct Sink<'a> {
    dest: &'a Dir,
    origin: String,
    limits: TreeLimits,
    entries: Cell<u64>,
    bytes: Cell<u64>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(dest: &'a Dir, origin: String, limits: TreeLimits) -> Sink<'a> {
        Sink {
            dest,
            origin,
            limits,
            entries: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn limits(&self) -> &TreeLimits {
        &self.limits
    }

    pub(crate) fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> FetchError {
        FetchError::UnsafeEntry {
            origin: self.origin.clone(),
            entry: entry.display().to_string(),
            reason: reason.into(),
        }
    }

    /// The error for a tree over the entry limit.
    pub(crate) fn too_many_entries(&self) -> FetchError {
        FetchError::TooBig {
            origin: self.origin.clone(),
            what: format!("it has more than {} entries", self.limits.max_entries),
            limit: format!("{} entries", self.limits.max_entries),
            setting: TreeLimits::ENTRIES_SETTING,
        }
    }

    /// The error for a tree over the total size limit.
    pub(crate) fn too_many_bytes(&self) -> FetchError {
        FetchError::TooBig {
            origin: self.origin.clone(),
            what: format!(
                "its files hold more than {}",
                stackpack_fs::human_bytes(self.limits.max_bytes)
            ),
            limit: stackpack_fs::human_bytes(self.limits.max_bytes),
            setting: TreeLimits::BYTES_SETTING,
        }
    }

    /// The error for a file over the per-file limit (`size` when known).
    pub(crate) fn file_too_big(&self, rel: &Path, size: Option<u64>) -> FetchError {
        let size = size.map_or_else(|| "more".into(), |s| format!("{s} bytes"));
        FetchError::TooBig {
            origin: self.origin.clone(),
            what: format!("`{}` is {size}", rel.display()),
            limit: format!(
                "{} per file",
                stackpack_fs::human_bytes(self.limits.max_file_bytes)
            ),
            setting: TreeLimits::FILE_BYTES_SETTING,
        }
    }

    /// Counts one more entry against the limit.
    pub(crate) fn count_entry(&self) -> Result<(), FetchError> {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        if n > self.limits.max_entries {
            return Err(self.too_many_entries());
        }
        Ok(())
    }

    /// Checks a file's declared size (before reading it) against both size limits.
    pub(crate) fn check_size(&self, rel: &Path, size: u64) -> Result<(), FetchError> {
        if size > self.limits.max_file_bytes {
            return Err(self.file_too_big(rel, Some(size)));
        }
        if self.bytes.get().saturating_add(size) > self.limits.max_bytes {
            return Err(self.too_many_bytes());
        }
        Ok(())
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

    /// The plain names of `rel`, which must be a clean relative path.
    fn names<'p>(&self, rel: &'p Path) -> Result<Vec<&'p OsStr>, FetchError> {
        rel.components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n),
                _ => Err(self.unsafe_entry(rel, "its path is not a plain relative path")),
            })
            .collect()
    }

    /// Opens the directories `names` one after the other from the destination, without
    /// following a symlink, creating the missing ones when `create`. `rel` is the entry
    /// being written, for messages.
    fn walk(&self, names: &[&OsStr], rel: &Path, create: bool) -> Result<Dir, FetchError> {
        let mut dir = self
            .dest
            .try_clone()
            .map_err(|e| Self::write_err(Path::new("."), e))?;
        let mut sofar = PathBuf::new();
        for name in names {
            sofar.push(name);
            let opened = if create {
                stackpack_fs::create_dir_nofollow(&dir, name)
            } else {
                stackpack_fs::open_dir_nofollow(&dir, name)
            };
            dir = opened.map_err(|e| match dir.symlink_metadata(name) {
                Ok(m) if m.is_symlink() => self.unsafe_entry(
                    rel,
                    format!(
                        "its path goes through `{}`, a symlink written earlier in the tree; \
                         nothing is written through a symlink",
                        sofar.display()
                    ),
                ),
                Ok(m) if !m.is_dir() => self.unsafe_entry(
                    rel,
                    format!(
                        "its path goes through `{}`, which is {} (an entry appears twice)",
                        sofar.display(),
                        stackpack_fs::kind_of(&m)
                    ),
                ),
                _ => Self::write_err(rel, e),
            })?;
        }
        Ok(dir)
    }

    /// The directory holding `rel` (created as needed, never through a link) and the
    /// entry's own name.
    fn parent<'p>(&self, rel: &'p Path) -> Result<(Dir, &'p OsStr), FetchError> {
        let names = self.names(rel)?;
        let Some((last, parents)) = names.split_last() else {
            return Err(self.unsafe_entry(rel, "its path is empty"));
        };
        Ok((self.walk(parents, rel, true)?, last))
    }

    fn exists_err(&self, rel: &Path, e: io::Error) -> FetchError {
        match e.kind() {
            io::ErrorKind::AlreadyExists => self.unsafe_entry(rel, "it appears twice"),
            _ => Self::write_err(rel, e),
        }
    }

    pub(crate) fn dir(&self, rel: &Path) -> Result<(), FetchError> {
        if rel.as_os_str().is_empty() || self.skipped(rel) {
            return Ok(());
        }
        self.count_entry()?;
        let names = self.names(rel)?;
        self.walk(&names, rel, true).map(drop)
    }

    /// A regular file, mode 0755 when `exec`, else 0644. An existing entry of that name
    /// (a duplicate in an archive) is refused rather than overwritten or written through.
    /// Its bytes count against the size limits as they are written.
    pub(crate) fn file(
        &self,
        rel: &Path,
        exec: bool,
        mut data: impl Read,
    ) -> Result<(), FetchError> {
        if self.skipped(rel) {
            return Ok(());
        }
        self.count_entry()?;
        let (parent, name) = self.parent(rel)?;
        let mut file = parent
            .open_with(name, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| self.exists_err(rel, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Self::write_err(rel, e)),
            };
            written += n as u64;
            if written > self.limits.max_file_bytes {
                return Err(self.file_too_big(rel, None));
            }
            let total = self.bytes.get() + n as u64;
            self.bytes.set(total);
            if total > self.limits.max_bytes {
                return Err(self.too_many_bytes());
            }
            file.write_all(&buf[..n])
                .map_err(|e| Self::write_err(rel, e))?;
        }
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
        self.count_entry()?;
        let (parent, name) = self.parent(rel)?;
        parent
            .symlink(target, name)
            .map_err(|e| self.exists_err(rel, e))
    }

    /// A hard link to `target`, a regular file already written (both clean relative
    /// paths); neither path may pass through a symlink.
    pub(crate) fn hard_link(&self, rel: &Path, target: &Path) -> Result<(), FetchError> {
        if self.skipped(rel) || self.skipped(target) {
            return Ok(());
        }
        self.count_entry()?;
        let names = self.names(target)?;
        let Some((target_name, target_parents)) = names.split_last() else {
            return Err(self.unsafe_entry(rel, "its link target is empty"));
        };
        let from = self.walk(target_parents, rel, false)?;
        match from.symlink_metadata(target_name) {
            Ok(m) if m.is_file() => {}
            _ => {
                return Err(self.unsafe_entry(
                    rel,
                    format!(
                        "it is a hard link to {}, which is not a regular file written earlier",
                        target.display()
                    ),
                ));
            }
        }
        let (parent, name) = self.parent(rel)?;
        from.hard_link(target_name, &parent, name)
            .map_err(|e| self.exists_err(rel, e))
    }
}

/// Checks a written tree as the filesystem resolves it: every symlink, followed through
/// the other symlinks of the tree, must stay inside it (absolute targets and chains that
/// climb above the top are refused), and no entry may be a fifo, socket or device file.
/// `origin` names the source in errors.
pub fn verify_tree(dir: &Dir, origin: &str) -> Result<(), FetchError> {
    let unsafe_entry = |entry: &Path, reason: String| FetchError::UnsafeEntry {
        origin: origin.to_string(),
        entry: entry.display().to_string(),
        reason,
    };
    let read_err = |entry: &Path, source: io::Error| FetchError::Write {
        entry: entry.display().to_string(),
        source,
    };
    let top = dir.try_clone().map_err(|e| read_err(Path::new("."), e))?;
    let mut stack = vec![(PathBuf::new(), top)];
    while let Some((base, handle)) = stack.pop() {
        let entries = handle.entries().map_err(|e| read_err(&base, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_err(&base, e))?;
            let name = entry.file_name();
            let rel = base.join(&name);
            let meta = handle
                .symlink_metadata(&name)
                .map_err(|e| read_err(&rel, e))?;
            if meta.is_dir() {
                let sub = stackpack_fs::open_dir_nofollow(&handle, &name)
                    .map_err(|e| read_err(&rel, e))?;
                stack.push((rel, sub));
            } else if meta.is_symlink() {
                let target = handle.read_link(&name).map_err(|e| read_err(&rel, e))?;
                let mut hops = 0;
                let start: Vec<_> = base.iter().map(OsStr::to_os_string).collect();
                resolve(dir, start, &target, &mut hops).map_err(|reason| {
                    unsafe_entry(
                        &rel,
                        format!("it is a symlink to {}, which {reason}", target.display()),
                    )
                })?;
            } else if !meta.is_file() {
                return Err(unsafe_entry(
                    &rel,
                    format!("it is {}", stackpack_fs::kind_of(&meta)),
                ));
            }
        }
    }
    Ok(())
}

/// Symlinks followed while resolving one link, at most (the kernel's limit).
const MAX_HOPS: u32 = 40;

/// Resolves `target` from the directory `at` (names from the tree's top, each a real
/// directory), following the tree's symlinks as the kernel would; returns the resolved
/// names, or why it leaves the tree. A missing name is taken as written (the kernel
/// would stop there), and the rest is still checked lexically.
fn resolve(
    dir: &Dir,
    mut at: Vec<OsString>,
    target: &Path,
    hops: &mut u32,
) -> Result<Vec<OsString>, String> {
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err("is absolute".into());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err("leaves the pack (as the filesystem resolves it)".into());
                }
            }
            Component::Normal(name) => {
                at.push(name.to_os_string());
                let path: PathBuf = at.iter().collect();
                match dir.symlink_metadata(&path) {
                    Ok(m) if m.is_symlink() => {
                        *hops += 1;
                        if *hops > MAX_HOPS {
                            return Err("goes through too many symlinks".into());
                        }
                        let next = dir.read_link(&path).map_err(|e| e.to_string())?;
                        at.pop();
                        at = resolve(dir, at, &next, hops)?;
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(at)
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
