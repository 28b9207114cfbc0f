//! [`PidLock`]: an advisory lock on a file, shared by processes, that records its
//! holder's pid for the next waiter's message. The kernel releases it however the
//! holder exits, so it is never stale; the file itself is never removed (removing it
//! would let two processes lock two different files of the same name).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiter tries the lock again.
const RETRY: Duration = Duration::from_millis(20);

/// Held while alive; released on drop.
#[derive(Debug)]
pub struct PidLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process held it for the whole `timeout`; `holder` is its pid as it
    /// recorded it ("unknown" when it wrote none).
    TimedOut { holder: String },
    /// The lock file could not be opened (a symlink planted in its place is refused)
    /// or locked.
    Io {
        action: &'static str,
        source: io::Error,
    },
    /// The lock file's name holds something planted in its place: a symlink, a fifo or
    /// another special file, or a hard link to another file (`what` says which). It is
    /// neither followed nor written; removing it is the fix.
    Planted { what: &'static str },
}

impl PidLock {
    /// Takes the lock on `path` (created if missing, never through a symlink, never
    /// truncated before it is held), waiting up to `timeout` while another process holds
    /// it; `on_wait` is told that holder's pid once, when waiting begins. Anything but a
    /// regular file with one link at `path` is [`LockError::Planted`] and is not written.
    pub fn acquire(
        path: &Path,
        timeout: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<PidLock, LockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::NONBLOCK
                    | rustix::fs::OFlags::NOCTTY)
                    .bits() as i32,
            )
            .open(path)
            .map_err(|source| match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_symlink() => LockError::Planted { what: "a symlink" },
                _ => LockError::Io {
                    action: "open the lock file",
                    source,
                },
            })?;
        let meta = file.metadata().map_err(|source| LockError::Io {
            action: "read the lock file",
            source,
        })?;
        if !meta.is_file() {
            return Err(LockError::Planted {
                what: "not a regular file (a fifo, socket or device)",
            });
        }
        if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
            return Err(LockError::Planted {
                what: "a hard link to another file",
            });
        }
        rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty()).map_err(|e| LockError::Io {
            action: "open the lock file",
            source: e.into(),
        })?;
        let started = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if started.elapsed() >= timeout {
                        return Err(LockError::TimedOut { holder });
                    }
                    if let Some(tell) = on_wait.take() {
                        tell(&holder);
                    }
                    std::thread::sleep(RETRY);
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        action: "lock",
                        source,
                    });
                }
            }
        }
        // Record who holds it, for the next waiter's message.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(PidLock { _file: file })
    }
}

fn read_holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut s);
    match s.trim() {
        "" => "unknown".into(),
        pid => pid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_holder_waits_then_times_out_naming_the_first() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.lock");
        let first = PidLock::acquire(&path, Duration::ZERO, |_| {}).unwrap();
        // flock locks belong to the open file description: a second open in this
        // process contends like another process would.
        let mut told = None;
        let e = PidLock::acquire(&path, Duration::from_millis(60), |h| {
            told = Some(h.to_string())
        })
        .unwrap_err();
        let pid = std::process::id().to_string();
        assert!(
            matches!(e, LockError::TimedOut { ref holder } if *holder == pid),
            "{e:?}"
        );
        assert_eq!(told.as_deref(), Some(pid.as_str()));
        drop(first);
        PidLock::acquire(&path, Duration::ZERO, |_| {}).unwrap();
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = d.path().join("x.lock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = PidLock::acquire(&path, Duration::ZERO, |_| {}).unwrap_err();
        assert!(
            matches!(e, LockError::Planted { what: "a symlink" }),
            "{e:?}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn a_planted_hard_link_or_fifo_is_not_written() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = d.path().join("x.lock");
        std::fs::hard_link(&victim, &path).unwrap();
        let e = PidLock::acquire(&path, Duration::ZERO, |_| {}).unwrap_err();
        assert!(matches!(e, LockError::Planted { .. }), "{e:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let e = PidLock::acquire(&path, Duration::ZERO, |_| {}).unwrap_err();
        assert!(matches!(e, LockError::Planted { .. }), "{e:?}");
    }
}
