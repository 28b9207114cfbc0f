//! Opening one directory entry without following a symlink, through a directory handle:
//! the building blocks for writing a tree where no write may pass through a link (one
//! the tree itself made, or one planted under the root), and for reading a file that must
//! be a regular file (a fifo would block its reader forever, a device could be endless).

use std::ffi::OsStr;
use std::fs::File;
use std::io;

use cap_std::fs::Dir;
use rustix::fs::{Mode, OFlags, openat};

/// Refuses anything but one plain name: no separator, not `.` or `..`, not empty.
fn plain(name: &OsStr) -> io::Result<&OsStr> {
    let bytes = name.as_encoded_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} is not a plain file name", name),
        ));
    }
    Ok(name)
}

/// What a directory entry is, as `lstat` sees it, in words ("a symlink", "a fifo").
pub fn kind_of(meta: &cap_std::fs::Metadata) -> &'static str {
    use cap_std::fs::FileTypeExt;
    let ty = meta.file_type();
    if ty.is_symlink() {
        "a symlink"
    } else if ty.is_dir() {
        "a directory"
    } else if ty.is_file() {
        "a regular file"
    } else if ty.is_fifo() {
        "a fifo"
    } else if ty.is_socket() {
        "a socket"
    } else if ty.is_block_device() || ty.is_char_device() {
        "a device file"
    } else {
        "a special file"
    }
}

/// Opens the directory `name` (one plain name) in `dir`; a symlink there is not
/// followed (the error is then `ELOOP` or `ENOTDIR`).
pub fn open_dir_nofollow(dir: &Dir, name: &OsStr) -> io::Result<Dir> {
    let fd = openat(
        dir,
        plain(name)?,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(Dir::from_std_file(File::from(fd)))
}

/// Opens the regular file `name` (one plain name) in `dir` for reading: a symlink there
/// is not followed, and a fifo, socket or device is refused without blocking on it.
pub fn open_file_nofollow(dir: &Dir, name: &OsStr) -> io::Result<File> {
    let fd = openat(
        dir,
        plain(name)?,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    rustix::fs::fcntl_setfl(&file, OFlags::empty())?;
    Ok(file)
}

/// Creates the directory `name` in `dir` unless it exists, then opens it as
/// [`open_dir_nofollow`] does: an existing symlink of that name is neither followed nor
/// replaced.
pub fn create_dir_nofollow(dir: &Dir, name: &OsStr) -> io::Result<Dir> {
    match rustix::fs::mkdirat(dir, plain(name)?, Mode::from_raw_mode(0o755)) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::EXIST => {}
        Err(e) => return Err(e.into()),
    }
    open_dir_nofollow(dir, name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_symlink_is_neither_followed_nor_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", d.path().join("link")).unwrap();
        let dir = Dir::open_ambient_dir(d.path(), cap_std::ambient_authority()).unwrap();
        assert!(open_dir_nofollow(&dir, OsStr::new("link")).is_err());
        assert!(create_dir_nofollow(&dir, OsStr::new("link")).is_err());
        assert!(
            std::fs::symlink_metadata(d.path().join("link"))
                .unwrap()
                .is_symlink()
        );
        let sub = create_dir_nofollow(&dir, OsStr::new("new")).unwrap();
        sub.write("x", "1").unwrap();
        assert!(d.path().join("new/x").is_file());
        assert!(open_dir_nofollow(&dir, OsStr::new("..")).is_err());
        assert!(open_dir_nofollow(&dir, OsStr::new("real/x")).is_err());
    }
}
