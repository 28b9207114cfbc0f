//! Reading a file a user named, or one inside a pack, without trusting it: only a
//! regular file is read (a device such as `/dev/zero`, a FIFO, a socket or a directory
//! is refused before any byte is read, and opening never waits for a FIFO's writer),
//! and never more than a limit, so no file can make stackpack grow until it is killed.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Reads the whole of the regular file at `path`, refusing anything that is not a
/// regular file and any file longer than `limit` bytes. A symlink to a regular file is
/// followed. The error's text says which rule was broken, not which file: the caller
/// names the file.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_file_limited(open_nonblocking(path)?, limit)
}

/// Opens `path` for reading only if it is a regular file (a symlink to one is followed):
/// a fifo, socket, device or directory is refused with [`io::ErrorKind::InvalidInput`]
/// saying what it is, without blocking on it. For callers that stream the file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    // Reads of a regular file never block; clear the flag for plain semantics.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
    Ok(file)
}

/// [`read_limited`] as UTF-8 text; other bytes are an `InvalidData` error.
pub fn read_to_string_limited(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_limited(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the file is not UTF-8 text; save it as UTF-8",
        )
    })
}

/// Reads the whole of an open `file` under the same rules as [`read_limited`].
pub fn read_file_limited(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let mut body = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut body)?;
    // The file may have grown since its size was read.
    if body.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(body)
}

/// The error for a file over `limit` bytes (also for callers that read another way).
pub fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "the file is larger than its limit of {}",
            human_bytes(limit)
        ),
    )
}

/// `4 MiB`, `512 KiB`, `100 bytes`: a limit as people write it.
pub fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

fn not_regular(meta: &std::fs::Metadata) -> io::Error {
    let what = if meta.is_dir() {
        "a directory"
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            let t = meta.file_type();
            if t.is_char_device() || t.is_block_device() {
                "a device"
            } else if t.is_fifo() {
                "a fifo"
            } else if t.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        {
            "not a regular file"
        }
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; give a regular file"),
    )
}

/// Opens `path` for reading without waiting for a FIFO's writer and without making a
/// terminal the controlling one.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        options.custom_flags(flags.bits() as i32);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_regular_files_up_to_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_limited(&p, 5).unwrap(), b"12345");
        let e = read_limited(&p, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("limit of 4 bytes"), "{e}");
        std::os::unix::fs::symlink(&p, d.path().join("link")).unwrap();
        assert_eq!(read_limited(&d.path().join("link"), 5).unwrap(), b"12345");
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert_eq!(
            read_to_string_limited(&p, 5).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        // The safe outcome: an error saying what the path is, returned before a byte is
        // read (a FIFO without a writer would otherwise block the open forever).
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        for (path, what) in [
            (Path::new("/dev/zero"), "a device"),
            (fifo.as_path(), "a fifo"),
            (d.path(), "a directory"),
        ] {
            let e = read_limited(path, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{path:?}");
            assert!(e.to_string().contains(what), "{e}");
        }
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(human_bytes(4 << 20), "4 MiB");
        assert_eq!(human_bytes(512 << 10), "512 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }
}
