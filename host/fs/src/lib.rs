//! stackpack's one way of replacing a file: [`write_atomic`] (and [`write_atomic_with`]
//! for content produced by a writer). Readers see the old file or the new one, never
//! part of either, and the new one survives a crash once the call returns.
//!
//! The steps: a temporary file with a unique name (`.<name>.<random>.tmp`, so directory
//! listings that skip dot files skip it) in the target's own directory, the content
//! written and flushed to disk, the file renamed over the target, then the directory
//! flushed so the rename itself is durable. On any failure before the rename the
//! temporary file is removed and the old file is left as it was. The temporary file
//! comes from `tempfile`, which creates it exclusively (never following a planted
//! symlink).
//!
//! [`write_atomic_if_changed`] leaves a file that already holds exactly the new bytes
//! alone (no write, no flush, its mtime kept): a run that changes nothing writes nothing.
//!
//! [`PidLock`] is the one inter-process lock (the root lock, the cache entries' locks):
//! an advisory `flock` on a file that records its holder's pid.
//!
//! [`open_dir_nofollow`] and [`create_dir_nofollow`] step into one directory through a
//! handle without following a symlink. [`read_limited`] (and [`read_to_string_limited`],
//! [`open_regular`]) is the one way a file a user or a pack supplies is read: a regular
//! file only (never blocking on a fifo), never more than a limit.

pub mod fault;
mod nofollow;
mod pid_lock;
mod read;

pub use nofollow::{create_dir_nofollow, kind_of, open_dir_nofollow, open_file_nofollow};
pub use pid_lock::{LockError, PidLock};
pub use read::{
    human_bytes, open_regular, read_file_limited, read_limited, read_to_string_limited, too_large,
};

use std::fs::File;
#[cfg(unix)]
use std::fs::Permissions;
use std::io::{self, Write};
use std::path::Path;

/// The permissions of the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// What `std::fs::write` would give a new file: 0666 narrowed by the umask.
    #[default]
    Default,
    /// Exactly these permission bits, whatever the umask (0600 for secrets); Unix only,
    /// elsewhere the same as `Default`.
    Exact(u32),
}

/// Replaces `path` with `bytes`, atomically and durably; see the crate docs. The
/// directory of `path` must exist. The error is the underlying I/O error; the caller
/// names the file in its own message.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    write_atomic_with(path, mode, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], unless `path` is already a regular file (not a symlink) with
/// exactly `bytes` (and, for [`Mode::Exact`], exactly those permission bits): then
/// nothing is written and the answer is `false`. `true` when the file was replaced.
pub fn write_atomic_if_changed(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<bool> {
    if holds(path, bytes, mode) {
        return Ok(false);
    }
    write_atomic(path, bytes, mode)?;
    Ok(true)
}

/// Whether `path` is a regular file with exactly `bytes` and `mode`'s bits; any doubt
/// (a link, another size, a read error) is `false`.
fn holds(path: &Path, bytes: &[u8], mode: Mode) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.file_type().is_file() || meta.len() != bytes.len() as u64 {
        return false;
    }
    #[cfg(unix)]
    if let Mode::Exact(bits) = mode {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o7777 != bits & 0o7777 {
            return false;
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
    read_limited(path, bytes.len() as u64).is_ok_and(|old| old == bytes)
}

/// Like [`write_atomic`], with the content written by `fill` into the temporary file.
/// If `fill` fails, nothing is renamed and the error is returned.
pub fn write_atomic_with(
    path: &Path,
    mode: Mode,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.", name.to_string_lossy());
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(create_permissions(mode));
    // Dropping `tmp` on any early return removes the temporary file.
    let mut tmp = builder.tempfile_in(dir)?;
    #[cfg(unix)]
    if let Mode::Exact(bits) = mode {
        // The umask narrowed the mode at creation: set it exactly.
        tmp.as_file().set_permissions(exact_permissions(bits))?;
    }
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename durable. The new content is in place whatever happens here, so a
    // directory that cannot be flushed (some filesystems refuse) is not an error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn create_permissions(mode: Mode) -> Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    match mode {
        Mode::Default => Permissions::from_mode(0o666),
        // Created no wider than asked, before being set exactly.
        Mode::Exact(bits) => Permissions::from_mode(bits & 0o777),
    }
}

#[cfg(unix)]
fn exact_permissions(bits: u32) -> Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    Permissions::from_mode(bits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        write_atomic(&path, b"one", Mode::Default).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"two", Mode::Default).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn same_bytes_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stackpack.lock");
        assert!(write_atomic_if_changed(&path, b"one", Mode::Default).unwrap());
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let first = ino(&path);
        assert!(!write_atomic_if_changed(&path, b"one", Mode::Default).unwrap());
        assert_eq!(ino(&path), first, "the same bytes leave the file in place");
        // Other bytes of the same length, other permission bits: replaced.
        assert!(write_atomic_if_changed(&path, b"two", Mode::Default).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(write_atomic_if_changed(&path, b"two", Mode::Exact(0o600)).unwrap());
        assert_eq!(mode_of(&path), 0o600);
        assert!(!write_atomic_if_changed(&path, b"two", Mode::Exact(0o600)).unwrap());
        // A symlink holding the same bytes is replaced by a file.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(write_atomic_if_changed(&link, b"two", Mode::Exact(0o600)).unwrap());
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_file()
        );
    }

    #[test]
    fn default_mode_is_what_fs_write_gives() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomic(&atomic, b"x", Mode::Default).unwrap();
        assert_eq!(mode_of(&atomic), mode_of(&plain));
    }

    #[test]
    fn exact_mode_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.yaml");
        write_atomic(&path, b"token: x", Mode::Exact(0o600)).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        // Replacing a secret file with a public one, and back.
        write_atomic(&path, b"a: 1", Mode::Exact(0o644)).unwrap();
        assert_eq!(mode_of(&path), 0o644);
        write_atomic(&path, b"token: y", Mode::Exact(0o600)).unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn a_failing_write_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stackpack.lock");
        std::fs::write(&path, b"old").unwrap();
        let e = write_atomic_with(&path, Mode::Default, |f| {
            f.write_all(b"half of the n")?;
            Err(io::Error::other("the writer failed"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "the writer failed");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn a_failing_rename_leaves_the_target_and_no_temp_file() {
        // The target is a non-empty directory: the rename fails after the write.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"old").unwrap();
        assert!(write_atomic(&path, b"new", Mode::Default).is_err());
        assert_eq!(std::fs::read(path.join("keep")).unwrap(), b"old");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/file");
        assert!(write_atomic(&path, b"x", Mode::Default).is_err());
    }
}
