//! `<root>/.stackpack-journal`: what an install or a removal is about to change in
//! `<root>/packs`, written before the first change, so that `stackpack.lock` never lags
//! the packs after a crash.
//!
//! The invariant: at every instant, for every pack `P`, `<root>/packs/P` is what
//! `stackpack.lock` records for `P` (its tree digest, [`crate::tree::tree_digest`], or its
//! absence), unless the journal holds an intent for `P` that describes `packs/P` as it
//! is. Install and remove keep it in this order, all under the root lock:
//!
//! 1. write the journal (atomically and durably, `stackpack_fs::write_atomic`): one
//!    intent per pack about to change, an install intent carrying the new lockfile entry
//!    with the digest of the staged tree, a remove intent the pack's name;
//! 2. change `packs/` (one atomic exchange or rename per pack);
//! 3. write the lockfile (atomically and durably);
//! 4. delete the journal.
//!
//! A kill at any instant leaves the journal, the lockfile and `packs/` such that each
//! intent either happened (an install: `packs/P` has the intent's digest; a removal:
//! `packs/P` is gone) or did not (`packs/P` is still what the lockfile records). The
//! next command that takes the root lock runs [`recover`] before anything else: it
//! rolls the lockfile forward for every intent that happened, drops the others, writes
//! the lockfile and deletes the journal. Recovery is idempotent, so a kill during it is
//! recovered by the next run the same way. Readers that do not take the lock
//! ([`current`]) apply the same rule in memory and see what is on disk.
//!
//! The digest compares inodes, so a staged tree and the tree it replaces never share
//! one: a swapped pack is told from an unswapped one without reading file content.
//! (So a lockfile's digests hold only on the root that took them: after a `sync` wrote
//! another root's lockfile here, this root's own digests are in `.stackpack-synced`,
//! see [`crate::sync`].)
//!
//! A pack's virtualenv is exchanged before its pack is swapped; it cannot be exchanged
//! in the same instant. When an install intent did not happen, its virtualenv may
//! already be the new one: recovery deletes that venv's fingerprint, so the next
//! `stackpack install` or `stackpack venv` of the pack rebuilds it for the tree in
//! place, and says so. When a remove intent happened, recovery also removes the
//! virtualenv the killed run did not reach.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use stackpack_fs::fault;

use crate::error::InstallError;
use crate::lockfile::{LockedPack, Lockfile};

pub const JOURNAL_FILE: &str = ".stackpack-journal";

/// The journal format this stackpack writes and reads.
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journal {
    version: u32,
    /// Packs about to be swapped in, with their new lockfile entries.
    #[serde(default)]
    install: Vec<LockedPack>,
    /// Packs about to be taken out.
    #[serde(default)]
    remove: Vec<String>,
}

/// What [`recover`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Packs whose install had happened: the lockfile now records the new entry.
    pub installed: Vec<String>,
    /// Packs whose removal had happened: the lockfile no longer records them.
    pub removed: Vec<String>,
    /// Packs whose change had not happened: they stay as the lockfile records them.
    pub dropped: Vec<String>,
    /// What the operator should know (a virtualenv to rebuild).
    pub warnings: Vec<String>,
}

impl Journal {
    pub fn installing(entries: Vec<LockedPack>) -> Journal {
        Journal {
            version: VERSION,
            install: entries,
            remove: Vec::new(),
        }
    }

    pub fn removing(names: Vec<String>) -> Journal {
        Journal {
            version: VERSION,
            install: Vec::new(),
            remove: names,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }

    /// Writes the journal of `root` atomically and durably.
    pub fn write(&self, root: &Path) -> Result<(), InstallError> {
        let path = root.join(JOURNAL_FILE);
        let text = serde_json::to_vec_pretty(self).map_err(|e| journal_err(&path, e))?;
        stackpack_fs::write_atomic(&path, &text, stackpack_fs::Mode::Default)
            .map_err(InstallError::io("cannot write", &path))
    }

    /// Reads the journal of `root`; `None` when there is none.
    fn read(root: &Path) -> Result<Option<Journal>, InstallError> {
        let path = root.join(JOURNAL_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(InstallError::io("cannot read", &path)(e)),
        };
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| journal_err(&path, e))?;
        if journal.version != VERSION {
            return Err(InstallError::Journal {
                path,
                reason: format!(
                    "version {} is not supported (this stackpack writes version {VERSION})",
                    journal.version
                ),
            });
        }
        Ok(Some(journal))
    }

    /// Applies to `lock` every intent that happened on disk; the others are dropped.
    fn apply(&self, lock: &mut Lockfile, packs: &Path) -> Recovered {
        let mut out = Recovered::default();
        for entry in &self.install {
            if happened_install(entry, &packs.join(&entry.ref_)) {
                lock.upsert(entry.clone());
                out.installed.push(entry.ref_.clone());
            } else {
                out.dropped.push(entry.ref_.clone());
            }
        }
        for name in &self.remove {
            if std::fs::symlink_metadata(packs.join(name)).is_err() {
                lock.remove(name);
                out.removed.push(name.clone());
            } else {
                out.dropped.push(name.clone());
            }
        }
        out
    }
}

/// Deletes the journal of `root` (durably: the directory is synced). A journal whose
/// deletion is lost is replayed again, to the same result.
pub fn clear(root: &Path) -> Result<(), InstallError> {
    let path = root.join(JOURNAL_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(InstallError::io("cannot remove", &path)(e)),
    }
    if let Ok(d) = std::fs::File::open(root) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether `dir` holds exactly the tree `entry` was staged as.
fn happened_install(entry: &LockedPack, dir: &Path) -> bool {
    let Some(want) = entry.tree_sha256.as_deref() else {
        return false;
    };
    Dir::open_ambient_dir(dir, cap_std::ambient_authority()).is_ok_and(|d| {
        crate::tree::check(&d, Some(want), entry.tree_content_sha256.as_deref()).intact()
    })
}

fn journal_err(path: &Path, e: serde_json::Error) -> InstallError {
    InstallError::Journal {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Finishes what a killed run left in its journal (see the module documentation). Call
/// it holding the root lock, before the staging dir is cleared.
pub fn recover(root: &Path) -> Result<Recovered, InstallError> {
    let Some(journal) = Journal::read(root)? else {
        return Ok(Recovered::default());
    };
    let lock_path = root.join(stackpack_site::root::LOCKFILE);
    let mut lock = Lockfile::read(&lock_path)?;
    let before = lock.clone();
    let packs = root.join(stackpack_site::root::PACKS_DIR);
    let mut out = journal.apply(&mut lock, &packs);
    if lock != before {
        lock.write(&lock_path)?;
    }
    fault::point("recover-after-lockfile", "");
    let venvs = root.join(stackpack_site::root::VIRTUALENVS_DIR);
    for name in &journal.remove {
        let venv = venvs.join(name);
        if out.removed.contains(name) && std::fs::symlink_metadata(&venv).is_ok() {
            std::fs::remove_dir_all(&venv).map_err(InstallError::io("cannot remove", &venv))?;
        }
    }
    for entry in &journal.install {
        let name = &entry.ref_;
        let fingerprint = venvs.join(name).join(stackpack_venv::FINGERPRINT_FILE);
        if out.dropped.contains(name) && fingerprint.exists() {
            std::fs::remove_file(&fingerprint)
                .map_err(InstallError::io("cannot remove", &fingerprint))?;
            out.warnings.push(format!(
                "an interrupted install may have left the virtualenv of {name} built for \
                 another version; `stackpack install {name}` or `stackpack venv {name}` \
                 rebuilds it"
            ));
        }
    }
    clear(root)?;
    for name in out.installed.iter().chain(&out.removed) {
        tracing::info!("completed the lockfile entry of {name} left by an interrupted run");
    }
    Ok(out)
}

/// The lockfile of `root` as it describes `packs/` now: the file, with the intents of a
/// journal left by a killed (or still running) install applied in memory. Writes nothing.
pub fn current(root: &Path) -> Result<Lockfile, InstallError> {
    let mut lock = Lockfile::read(&root.join(stackpack_site::root::LOCKFILE))?;
    if let Some(journal) = Journal::read(root)? {
        journal.apply(&mut lock, &root.join(stackpack_site::root::PACKS_DIR));
    }
    Ok(lock)
}

/// The journal's path in `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(JOURNAL_FILE)
}
