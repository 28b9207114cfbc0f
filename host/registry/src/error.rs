use std::path::PathBuf;

use crate::content::Problem;

/// Why registering (or reading the registry) failed. Each message names the pack, the
/// file or the policy, and what to do; a failed pack keeps its previous registration.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot open the registry {}: {source}. {}",
        path.display(),
        if *disk_full {
            DISK_FULL
        } else {
            "Check that the file and its directory are writable; if the file is damaged, move \
             it away and run `stackpack register` to rebuild it from the installed packs"
        }
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
        /// The disk holding the registry had no space left when this failed.
        disk_full: bool,
    },

    #[error(
        "cannot bring the registry {} to this stackpack's schema: {source}. If it was written \
         by a newer stackpack, use that one, or move the file away and run `stackpack register`",
        path.display()
    )]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },

    #[error(
        "the registry {} is from an older stackpack; run `stackpack register` to upgrade it",
        path.display()
    )]
    Outdated { path: PathBuf },

    #[error(
        "registry {} ({doing}): {source}{}",
        path.display(),
        if *disk_full { format!(". {DISK_FULL}") } else { String::new() }
    )]
    Sql {
        path: PathBuf,
        doing: &'static str,
        source: rusqlite::Error,
        /// The disk holding the registry had no space left when this failed.
        disk_full: bool,
    },

    #[error(
        "override policy \"{policy}\" failed on pack \"{pack}\": {message}. The pack's previous \
         registration is kept; do what the message says and register again"
    )]
    PolicyRefused {
        policy: String,
        pack: String,
        message: String,
    },

    #[error(
        "override policy failed on pack \"{pack}\": {source}. The pack's previous registration \
         is kept; fix or remove the policy and register again"
    )]
    Policy {
        pack: String,
        source: crate::policy::PolicyFailure,
    },

    #[error(
        "pack \"{pack}\" was not registered (--fail-on-failure), its previous registration is \
         kept: {}",
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
    )]
    InvalidContent {
        pack: String,
        problems: Vec<Problem>,
    },
}

const DISK_FULL: &str = "The disk holding it is full: free space on it, then run the command \
                         again (a failed registration keeps the previous one)";

/// Below this much space available to this user, a failing SQLite write is put down to a
/// full disk (SQLite reports some out-of-space cases as a plain I/O error).
const LOW_SPACE_BYTES: u64 = 1 << 20;

/// Whether `err`, met on the database at `db`, comes from a full disk: SQLite says so,
/// or the filesystem holding `db` has (almost) no space left for this user.
pub(crate) fn disk_full(db: &std::path::Path, err: &rusqlite::Error) -> bool {
    if let rusqlite::Error::SqliteFailure(e, _) = err
        && e.code == rusqlite::ErrorCode::DiskFull
    {
        return true;
    }
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < LOW_SPACE_BYTES)
}
