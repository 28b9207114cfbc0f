//! Staging and the swap. Each pack is fetched into a slot under
//! `<root>/.stackpack-staging/<run>/` (same filesystem as `<root>/packs`), checked, and
//! then exchanged with `<root>/packs/<ref>` in one `renameat2(RENAME_EXCHANGE)`, so at
//! every instant `<root>/packs/<ref>` is either the old tree or the new one. A run's
//! staging dir is removed when the run ends; one left by a killed run is removed by the
//! next (which holds the root lock, so no live run owns it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cap_std::fs::Dir;
use rustix::fs::{RenameFlags, renameat_with};
use stackpack_fs::fault;

use crate::error::InstallError;

pub const STAGING_DIR: &str = ".stackpack-staging";

pub struct Staging {
    /// `<root>/.stackpack-staging`, opened without following a symlink.
    base: Dir,
    /// This run's directory in it.
    run: String,
    dir: Dir,
    path: PathBuf,
    next: AtomicUsize,
}

/// Opens (creating it when missing) the directory `name` under `parent` without
/// following a symlink; something else planted there is [`InstallError::Planted`].
fn open_own_dir(
    parent: &Dir,
    name: &str,
    path: &Path,
    role: &'static str,
) -> Result<Dir, InstallError> {
    stackpack_fs::create_dir_nofollow(parent, std::ffi::OsStr::new(name)).map_err(|e| match parent
        .symlink_metadata(name)
    {
        Ok(m) if !m.is_dir() => InstallError::Planted {
            path: path.to_path_buf(),
            what: stackpack_fs::kind_of(&m).to_string(),
            role,
        },
        _ => InstallError::io("cannot create", path)(e),
    })
}

impl Staging {
    /// Creates this run's staging dir, clearing what killed runs left behind. A symlink
    /// (or anything but a directory) planted at `<root>/.stackpack-staging` is refused,
    /// never followed.
    pub fn new(root: &Dir, root_path: &Path) -> Result<Staging, InstallError> {
        let base_path = root_path.join(STAGING_DIR);
        let base = open_own_dir(root, STAGING_DIR, &base_path, "staging directory")?;
        if let Ok(entries) = base.entries() {
            for entry in entries.flatten() {
                let name = entry.file_name();
                tracing::info!(
                    "removing staging left by an interrupted run: {}",
                    base_path.join(&name).display()
                );
                let _ = base.remove_dir_all(&name);
            }
        }
        let run = format!("run-{}", std::process::id());
        let dir = open_own_dir(&base, &run, &base_path.join(&run), "staging directory")?;
        Ok(Staging {
            base,
            dir,
            path: base_path.join(&run),
            run,
            next: AtomicUsize::new(0),
        })
    }

    /// A fresh empty slot for one pack: its name and a handle on it.
    pub fn slot(&self) -> Result<(String, Dir), InstallError> {
        let name = format!("slot-{}", self.next.fetch_add(1, Ordering::Relaxed));
        self.dir
            .create_dir(&name)
            .map_err(InstallError::io("cannot create", self.path.join(&name)))?;
        let dir = stackpack_fs::open_dir_nofollow(&self.dir, std::ffi::OsStr::new(&name))
            .map_err(InstallError::io("cannot open", self.path.join(&name)))?;
        Ok((name, dir))
    }

    pub fn slot_path(&self, slot: &str) -> PathBuf {
        self.path.join(slot)
    }

    /// Removes a slot that will not be installed.
    pub fn discard(&self, slot: &str) {
        let _ = self.dir.remove_dir_all(slot);
    }

    /// Copies the legacy in-pack `config.yaml` of the installed `packs/<name>`, if any,
    /// into the staged `slot`, so that the swap keeps it. Done before the slot's tree
    /// digest is taken for the journal and the lockfile. Returns whether it copied one.
    pub fn carry_legacy_config(
        &self,
        slot: &str,
        packs: &Dir,
        packs_path: &Path,
        name: &str,
    ) -> Result<bool, InstallError> {
        // Only from a real directory, and only a regular file: a symlink at
        // `packs/<name>` or at its config.yaml is never followed.
        let real_dir = packs.symlink_metadata(name).is_ok_and(|m| m.is_dir());
        if real_dir
            && packs
                .symlink_metadata(format!("{name}/config.yaml"))
                .is_ok_and(|m| m.is_file())
        {
            packs
                .copy(
                    format!("{name}/config.yaml"),
                    &self.dir,
                    format!("{slot}/config.yaml"),
                )
                .map_err(InstallError::io(
                    "cannot keep the legacy config.yaml of",
                    packs_path.join(name),
                ))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The digests of a staged slot: its fingerprint and its content digest
    /// ([`crate::tree`]). `manifest` is the tree as its export wrote it, so no walk of the
    /// slot is needed; `config_added` says that a `config.yaml` was put in it since, which
    /// alone is read back. Without a manifest the slot is scanned.
    pub fn slot_digests(
        &self,
        slot: &str,
        manifest: Option<&stackpack_fetch::TreeManifest>,
        config_added: bool,
    ) -> Result<(String, String), InstallError> {
        let err = || InstallError::io("cannot read", self.path.join(slot));
        let dir =
            stackpack_fs::open_dir_nofollow(&self.dir, std::ffi::OsStr::new(slot)).map_err(err())?;
        let manifest = match manifest {
            Some(m) => {
                let mut m = m.clone();
                if config_added {
                    m.add_top_file(&dir, "config.yaml").map_err(err())?;
                }
                m
            }
            None => stackpack_fetch::TreeManifest::scan(&dir).map_err(err())?,
        };
        Ok((manifest.fingerprint(), manifest.content_sha256()))
    }

    /// Puts the staged `slot` at `packs/<name>`: an atomic exchange when a previous
    /// version exists, a no-replace rename otherwise. Returns whether it replaced
    /// something. A symlink at `packs/<name>` is replaced as an entry: never followed,
    /// nothing is read or written through it, and what it points at is left alone.
    pub fn swap_into(
        &self,
        slot: &str,
        packs: &Dir,
        packs_path: &Path,
        name: &str,
    ) -> Result<bool, InstallError> {
        let dest = packs_path.join(name);
        let exists = packs.symlink_metadata(name).is_ok();
        fault::point("before-swap", name);
        let flags = if exists {
            RenameFlags::EXCHANGE
        } else {
            RenameFlags::NOREPLACE
        };
        renameat_with(&self.dir, slot, packs, name, flags)
            .map_err(|e| InstallError::io("cannot move the new version into", &dest)(e.into()))?;
        fault::point("after-swap", name);
        if exists {
            // The slot now holds the previous version.
            self.discard(slot);
        }
        Ok(exists)
    }

    /// Moves `packs/<name>` out of the way (into this run's staging, deleted with it).
    pub fn take_out(&self, packs: &Dir, packs_path: &Path, name: &str) -> Result<(), InstallError> {
        let slot = format!("removed-{name}");
        renameat_with(packs, name, &self.dir, &slot, RenameFlags::NOREPLACE)
            .map_err(|e| InstallError::io("cannot remove", packs_path.join(name))(e.into()))?;
        self.discard(&slot);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = self.base.remove_dir_all(&self.run);
    }
}
