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
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::{FetchError, fault};

static BUSY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static FREED: Condvar = Condvar::new();

/// Held while one cache entry is written; released on drop.
#[derive(Debug)]
pub(crate) struct EntryLock {
    // Fields drop in order: the flock is released before this process's waiters wake.
    _file: File,
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
        let io = |action: &'static str| {
            let path = path.to_path_buf();
            move |source| FetchError::Io {
                action,
                path,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("open the cache lock file"))?;
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = format!("another stackpack (pid {})", read_holder(&mut file));
                    if started.elapsed() >= timeout {
                        return Err(timed_out(holder));
                    }
                    if !said {
                        tracing::warn!("{holder} is fetching {what}; waiting...");
                        said = true;
                        fault::point("cache-lock-wait", what);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(EntryLock {
            _file: file,
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
