//! Test hooks at named points of stackpack's work, in debug builds only: release builds
//! compile [`point`] to nothing and ignore the variables below. Every crate marks its
//! points through this one module.
//!
//! A point has a name and a detail (the pack, URL or archive it is working on). Reaching
//! it:
//!
//! - with `STACKPACK_FAULT_POINT=<name>` (and, when set, `STACKPACK_FAULT_DETAIL` equal
//!   to the detail), aborts the process (as kill -9 would), after printing
//!   `stackpack: fault point <name> (<detail>) reached, aborting` to stderr;
//! - with `STACKPACK_FAULT_DIR=<dir>`, appends `<pid> <detail>` to `<dir>/<name>.reached`,
//!   then waits while `<dir>/<name>.hold` exists (when that file holds text, only for a
//!   detail containing it), so a test can keep one process inside a point while it
//!   starts another, and can list every point a run passes (a new point is found
//!   without naming it anywhere else);
//! - counts the arrival in this process and waits while [`hold`] holds the point, so a
//!   test calling the library keeps one thread inside while another arrives.
//!
//! The points of the cache code: `cache-locked` (a cache entry's lock is held and stale
//! git lock files removed; nothing written yet), `cache-lock-wait` (the entry is busy:
//! this fetch starts waiting for it), `git-fetch` (a git fetch is about to start) and
//! `archive-download` (an archive download is about to start). Install, remove and
//! register mark theirs with an `install-`, `remove-`, `register-` or `recover-` prefix
//! (see `stackpack-install` and `stackpack-registry`).

#[cfg(debug_assertions)]
mod imp {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::{Condvar, Mutex, MutexGuard};
    use std::time::Duration;

    struct State {
        /// Held points, each with the text a detail must contain ("" for any).
        held: BTreeMap<String, String>,
        reached: BTreeMap<String, usize>,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        held: BTreeMap::new(),
        reached: BTreeMap::new(),
    });
    static CHANGED: Condvar = Condvar::new();

    fn state() -> MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn point(name: &str, detail: &str) {
        if std::env::var("STACKPACK_FAULT_POINT").is_ok_and(|v| v == name)
            && std::env::var("STACKPACK_FAULT_DETAIL").map_or(true, |d| d == detail)
        {
            eprintln!("stackpack: fault point {name} ({detail}) reached, aborting");
            std::process::abort();
        }
        if let Some(dir) = std::env::var_os("STACKPACK_FAULT_DIR").map(PathBuf::from) {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{name}.reached")))
            {
                let _ = writeln!(f, "{} {detail}", std::process::id());
            }
            let hold = dir.join(format!("{name}.hold"));
            while let Ok(filter) = std::fs::read_to_string(&hold) {
                if !detail.contains(filter.trim()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut s = state();
        *s.reached.entry(name.to_string()).or_default() += 1;
        CHANGED.notify_all();
        while s
            .held
            .get(name)
            .is_some_and(|f| detail.contains(f.as_str()))
        {
            s = CHANGED.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn hold(name: &str, filter: &str) {
        state().held.insert(name.to_string(), filter.to_string());
    }

    pub fn release(name: &str) {
        state().held.remove(name);
        CHANGED.notify_all();
    }

    pub fn reached(name: &str) -> usize {
        state().reached.get(name).copied().unwrap_or(0)
    }

    pub fn wait_reached(name: &str, n: usize) {
        let mut s = state();
        while s.reached.get(name).copied().unwrap_or(0) < n {
            s = CHANGED.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn reset() {
        let mut s = state();
        s.held.clear();
        s.reached.clear();
        CHANGED.notify_all();
    }
}

/// Test controls (debug builds only): hold and release a point, count arrivals.
#[cfg(debug_assertions)]
pub use imp::{hold, reached, release, reset, wait_reached};

/// Marks the point `name` (see the module documentation).
#[cfg(debug_assertions)]
pub fn point(name: &str, detail: &str) {
    imp::point(name, detail);
}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
pub fn point(_name: &str, _detail: &str) {}
