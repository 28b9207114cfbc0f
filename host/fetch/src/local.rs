//! Local sources (`file://` installs): a git work tree is installed from
//! its last commit, a plain directory is copied as it is.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::FetchError;
use crate::git::{export_tree, open_source};
use crate::tree::{Sink, TreeLimits, ensure_empty, is_dot_git};

/// A local working copy for `file://` installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSource {
    /// A git work tree: its HEAD commit, and whether it has uncommitted changes
    /// (untracked files count, ignored files do not).
    Git { commit: String, dirty: bool },
    /// A plain directory.
    Plain,
}

const OPEN_HINT: &str = "check that it is a valid git repository owned by you (or listed in git's safe.directory), or remove its .git to install the directory as it is";

/// Inspects `path`: a git work tree (has `.git`) gives its HEAD commit and whether the
/// work tree has uncommitted changes; anything else is [`LocalSource::Plain`]. A missing
/// directory is [`FetchError::LocalMissing`] (st2's text).
pub fn inspect_local(path: &Path) -> Result<LocalSource, FetchError> {
    if !path.is_dir() {
        return Err(FetchError::LocalMissing {
            path: path.to_path_buf(),
        });
    }
    if !path.join(".git").exists() {
        return Ok(LocalSource::Plain);
    }
    let repo = open(path)?;
    let commit = head_commit(&repo, path)?;
    let dirty = is_dirty(&repo).map_err(|reason| FetchError::LocalGit {
        path: path.to_path_buf(),
        reason,
        hint: OPEN_HINT,
    })?;
    Ok(LocalSource::Git {
        commit: commit.to_string(),
        dirty,
    })
}

/// Exports HEAD (the last commit, never the uncommitted work tree) of the local repo at
/// `path` into `dest`, which must be empty, within `limits`; returns the commit id.
pub fn export_local_head(
    path: &Path,
    dest: &cap_std::fs::Dir,
    limits: &TreeLimits,
) -> Result<String, FetchError> {
    if !path.is_dir() {
        return Err(FetchError::LocalMissing {
            path: path.to_path_buf(),
        });
    }
    ensure_empty(dest)?;
    let repo = open(path)?;
    let commit = head_commit(&repo, path)?;
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id())
        .map_err(|e| FetchError::LocalGit {
            path: path.to_path_buf(),
            reason: e.to_string(),
            hint: OPEN_HINT,
        })?
        .detach();
    let origin = format!("{} at {}", path.display(), &commit.to_string()[..7]);
    export_tree(&repo, tree, &Sink::new(dest, origin, *limits))?;
    Ok(commit.to_string())
}

/// Copies the plain directory `src` into `dest` (which must be empty): `.git` skipped,
/// executable bits kept (0755 vs 0644), symlinks copied as symlinks only when they stay
/// inside the tree ([`FetchError::UnsafeEntry`] otherwise), none followed; device files,
/// fifos and sockets refused, naming them (a fifo is never opened: reading it could
/// block forever). A tree over `limits` is [`FetchError::TooBig`].
pub fn copy_dir(
    src: &Path,
    dest: &cap_std::fs::Dir,
    limits: &TreeLimits,
) -> Result<(), FetchError> {
    if !src.is_dir() {
        return Err(FetchError::LocalMissing {
            path: src.to_path_buf(),
        });
    }
    ensure_empty(dest)?;
    let sink = Sink::new(dest, src.display().to_string(), *limits);
    let io = |action: &'static str, path: PathBuf| {
        move |source: std::io::Error| FetchError::Io {
            action,
            path,
            source,
        }
    };
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = src.join(&rel);
        let mut entries = fs::read_dir(&dir)
            .map_err(io("read the directory", dir.clone()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io("read the directory", dir.clone()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if is_dot_git(&name) {
                continue;
            }
            let rel = rel.join(&name);
            let full = entry.path();
            let kind = entry.file_type().map_err(io("read", full.clone()))?;
            if kind.is_dir() {
                sink.dir(&rel)?;
                stack.push(rel);
            } else if kind.is_file() {
                let meta = entry.metadata().map_err(io("read", full.clone()))?;
                sink.check_size(&rel, meta.len())?;
                let exec = meta.permissions().mode() & 0o111 != 0;
                let file = stackpack_fs::open_regular(&full).map_err(io("read", full.clone()))?;
                sink.file(&rel, exec, file)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&full).map_err(io("read the symlink", full.clone()))?;
                sink.symlink(&rel, &target)?;
            } else {
                let what = if kind.is_fifo() {
                    "it is a fifo"
                } else if kind.is_socket() {
                    "it is a socket"
                } else {
                    "it is a device file"
                };
                return Err(sink.unsafe_entry(
                    &rel,
                    format!(
                        "{what}, not a regular file, directory or symlink; remove it from the pack"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn open(path: &Path) -> Result<gix::Repository, FetchError> {
    open_source(path).map_err(|e| FetchError::LocalGit {
        path: path.to_path_buf(),
        reason: e.to_string(),
        hint: OPEN_HINT,
    })
}

fn head_commit(repo: &gix::Repository, path: &Path) -> Result<gix::ObjectId, FetchError> {
    repo.head_commit()
        .map(|c| c.id)
        .map_err(|e| FetchError::LocalGit {
            path: path.to_path_buf(),
            reason: format!("its HEAD has no commit ({e})"),
            hint: "commit the pack first, or remove its .git to install the directory as it is",
        })
}

/// Whether the work tree differs from HEAD: a change staged or not, a deleted tracked
/// file, or an untracked file (not an ignored one, by `.gitignore`, `.git/info/exclude`
/// or `core.excludesFile`). The first change found answers.
fn is_dirty(repo: &gix::Repository) -> Result<bool, String> {
    let mut changes = repo
        .status(gix::progress::Discard)
        .map_err(|e| e.to_string())?
        .untracked_files(gix::status::UntrackedFiles::Collapsed)
        .into_iter(None)
        .map_err(|e| e.to_string())?;
    match changes.next() {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(e.to_string()),
    }
}
