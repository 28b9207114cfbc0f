//! One stackpack at a time per root: an advisory lock on `<root>/.stackpack-lock`. The
//! kernel releases it when the holder exits, however it exits, so it is never stale.

use std::path::Path;
use std::time::Duration;

use stackpack_fs::{LockError, PidLock};

use crate::error::InstallError;

pub const LOCK_FILE: &str = ".stackpack-lock";

/// Held while alive.
pub struct RootLock {
    _lock: PidLock,
}

impl RootLock {
    /// Takes the lock, waiting up to `timeout` (saying so once) if another process has it.
    pub fn acquire(root: &Path, timeout: Duration) -> Result<RootLock, InstallError> {
        let path = root.join(LOCK_FILE);
        let lock = PidLock::acquire(&path, timeout, |holder| {
            tracing::warn!(
                "waiting for another stackpack (pid {holder}) to finish with {}",
                root.display()
            );
        })
        .map_err(|e| match e {
            LockError::TimedOut { holder } => InstallError::LockTimeout {
                root: root.to_path_buf(),
                holder,
                waited: timeout,
            },
            LockError::Planted { what } => InstallError::Planted {
                path: path.clone(),
                what: what.to_string(),
                role: "root lock",
            },
            LockError::Io { action, source } => InstallError::Io {
                action,
                path: path.clone(),
                source,
            },
        })?;
        Ok(RootLock { _lock: lock })
    }
}
