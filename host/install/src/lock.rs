//! One stackpack at a time per root: an advisory lock on `<root>/.stackpack-lock`. The
//! kernel releases it when the holder exits, however it exits, so it is never stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::InstallError;

pub const LOCK_FILE: &str = ".stackpack-lock";

/// Held while alive.
pub struct RootLock {
    _file: File,
}

impl RootLock {
    /// Takes the lock, waiting up to `timeout` (saying so once) if another process has it.
    pub fn acquire(root: &Path, timeout: Duration) -> Result<RootLock, InstallError> {
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(InstallError::io("cannot open the lock file", &path))?;
        let started = Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if started.elapsed() >= timeout {
                        return Err(InstallError::LockTimeout {
                            root: root.to_path_buf(),
                            holder,
                            waited: timeout,
                        });
                    }
                    if !said {
                        tracing::warn!(
                            "waiting for another stackpack (pid {holder}) to finish with {}",
                            root.display()
                        );
                        said = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(InstallError::io("cannot lock", &path)(e));
                }
            }
        }
        // Record who holds it, for the next waiter's message.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(RootLock { _file: file })
    }
}

fn read_holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut s);
    let s = s.trim();
    if s.is_empty() {
        "unknown".into()
    } else {
        s.to_string()
    }
}
