//! One writer per cache entry (a git repository, an archive), across threads and across
//! processes sharing one cache directory.
//!
//! Within a process, a set of busy entries and a condition variable make a second
//! fetch of the same entry wait for the first. Across processes, an advisory `flock`
//! on `<entry>.lock` beside the entry does the same; the kernel releases it however
//! its holder exits, so it is never stale. The lock file holds the holder's pid, for
//! the next waiter's message; it is never removed (removing it would let two
//! processes lock two different files of the same name).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use stackpack_fs::{LockError, PidLock};

use crate::{FetchError, fault};

static BUSY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static FREED: Condvar = Condvar::new();

/// Held while one cache entry is written; released on drop.
#[derive(Debug)]
pub(crate) struct EntryLock {
    // Fields drop in order: the flock is released before this process's waiters wake.
    _lock: PidLock,
    _busy: Busy,
}

impl EntryLock {
    /// Takes the lock `path` for `what` (e.g. "git repository https://…"), waiting up
    /// to `timeout` for another thread or process that holds it, and saying so once.
    pub fn acquire(path: &Path, what: &str, timeout: Duration) -> Result<EntryLock, FetchError> {
        let started = Instant::now();
        let timed_out = |holder: String| FetchError::CacheLocked {
            what: what.to_string(),
            path: path.to_path_buf(),
            holder,
            secs: timeout.as_secs(),
        };
        {
            let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
            let mut said = false;
            while busy.contains(path) {
                if !said {
                    tracing::debug!("waiting for this run's other fetch of {what}");
                    said = true;
                    drop(busy);
                    fault::point("cache-lock-wait", what);
                    busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                let left = timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(timed_out("another fetch in this stackpack".into()));
                }
                busy = FREED
                    .wait_timeout(busy, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            busy.insert(path.to_path_buf());
        }
        // From here on, dropping `guard` frees the entry for this process's other threads.
        let guard = Busy(path.to_path_buf());
        let left = timeout.saturating_sub(started.elapsed());
        let lock = PidLock::acquire(path, left, |holder| {
            tracing::warn!("another stackpack (pid {holder}) is fetching {what}; waiting...");
            fault::point("cache-lock-wait", what);
        })
        .map_err(|e| match e {
            LockError::TimedOut { holder } => {
                timed_out(format!("another stackpack (pid {holder})"))
            }
            LockError::Planted { what } => FetchError::PlantedLock {
                path: path.to_path_buf(),
                what,
            },
            LockError::Io { action, source } => FetchError::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
        })?;
        Ok(EntryLock {
            _lock: lock,
            _busy: guard,
        })
    }
}

/// An entry marked busy in this process; unmarked on drop.
#[derive(Debug)]
struct Busy(PathBuf);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.0);
        FREED.notify_all();
    }
}
