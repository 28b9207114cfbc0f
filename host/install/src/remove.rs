//! `remove`: take packs out of `<root>/packs` (atomically, via staging), with their
//! virtualenvs. Configs in `<root>/configs` are kept. A pack other installed packs
//! depend on, or one that ships with StackStorm, needs `--force`.

use stackpack_core::{PackRef, RefKind, SYSTEM_PACKS};
use stackpack_fs::fault;
use stackpack_site::{InstalledPack, Root, discover, find};

use crate::error::InstallError;
use crate::install::{Outcome, PackResult, Report};
use crate::journal::{self, Journal};
use crate::lock::RootLock;
use crate::lockfile::Lockfile;
use crate::stage::Staging;

pub fn remove(
    root: &Root,
    search_paths: &[std::path::PathBuf],
    packs: &[String],
    force: bool,
    lock_timeout: std::time::Duration,
) -> Result<Report, InstallError> {
    let root_dir = root.ensure()?;
    let _lock = RootLock::acquire(root.path(), lock_timeout)?;
    let recovered = journal::recover(root.path())?;
    remove_held(root, &root_dir, search_paths, packs, force, recovered)
}

/// [`remove`] with the root lock held and the journal recovered by the caller.
pub(crate) fn remove_held(
    root: &Root,
    root_dir: &cap_std::fs::Dir,
    search_paths: &[std::path::PathBuf],
    packs: &[String],
    force: bool,
    recovered: journal::Recovered,
) -> Result<Report, InstallError> {
    let staging = Staging::new(root_dir, root.path())?;
    let installed = discover(search_paths)?;
    let packs_path = root.packs_dir();
    let packs_dir = root_dir
        .open_dir(stackpack_site::root::PACKS_DIR)
        .map_err(InstallError::io("cannot open", &packs_path))?;
    let lockfile_path = root.lockfile();
    let mut lockfile = Lockfile::read(&lockfile_path)?;
    // First every check, then the journal (see `journal`), then the removals.
    let mut outcomes: Vec<Result<&InstalledPack, InstallError>> = Vec::new();
    for name in packs {
        outcomes.push(check(&installed, &packs_path, packs, name, force));
    }
    let intents: Vec<String> = packs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_ok())
        .map(|(n, _)| n.clone())
        .collect();
    let journal = Journal::removing(intents);
    if !journal.is_empty() {
        journal.write(root.path())?;
    }
    fault::point("remove-journal-written", "");
    let mut results = Vec::new();
    let mut changed = false;
    for (name, checked) in packs.iter().zip(outcomes) {
        let outcome = checked.and_then(|pack| {
            fault::point("remove-before-take-out", name);
            staging.take_out(&packs_dir, &packs_path, name)?;
            fault::point("remove-after-take-out", name);
            let venv = format!("{}/{name}", stackpack_site::root::VIRTUALENVS_DIR);
            if root_dir.exists(&venv) {
                root_dir
                    .remove_dir_all(&venv)
                    .map_err(InstallError::io("cannot remove", root.path().join(&venv)))?;
            }
            lockfile.remove(name);
            changed = true;
            Ok(Outcome::Removed {
                ref_: name.clone(),
                version: pack.meta().map(|m| m.version.clone()).unwrap_or_default(),
                path: pack.path.display().to_string(),
            })
        });
        results.push(PackResult {
            requested: name.clone(),
            dependency_of: None,
            outcome: outcome.unwrap_or_else(|e| Outcome::Failed {
                reason: e.to_string(),
            }),
        });
    }
    if changed {
        lockfile.write(&lockfile_path)?;
    }
    fault::point("remove-after-lockfile", "");
    if !journal.is_empty() {
        journal::clear(root.path())?;
    }
    fault::point("remove-end", "");
    Ok(Report {
        results,
        warnings: recovered.warnings.clone(),
        recovered,
    })
}

/// Whether `name` may be removed: installed in `packs_path`, and (without `force`) not a
/// system pack nor required by a pack that stays.
fn check<'a>(
    installed: &'a [InstalledPack],
    packs_path: &std::path::Path,
    removing: &[String],
    name: &str,
    force: bool,
) -> Result<&'a InstalledPack, InstallError> {
    let Some(pack) = find(installed, name) else {
        return Err(InstallError::NotInstalled {
            pack: name.to_string(),
            packs_dir: packs_path.to_path_buf(),
        });
    };
    if pack.base_path != packs_path {
        return Err(InstallError::NotManaged {
            pack: name.to_string(),
            path: pack.path.clone(),
        });
    }
    if !force {
        if SYSTEM_PACKS.contains(&name) {
            return Err(InstallError::SystemPack {
                pack: name.to_string(),
            });
        }
        let dependents: Vec<String> = installed
            .iter()
            .filter(|p| p.is_active() && p.ref_ != name && !removing.contains(&p.ref_))
            .filter(|p| {
                p.meta().is_some_and(|m| {
                    m.dependencies.iter().any(|d| {
                        PackRef::parse(d).is_ok_and(|r| match r.kind() {
                            RefKind::IndexName => r.locator() == name,
                            _ => r.dependency_name() == name,
                        })
                    })
                })
            })
            .map(|p| p.ref_.clone())
            .collect();
        if !dependents.is_empty() {
            return Err(InstallError::Required {
                pack: name.to_string(),
                dependents,
            });
        }
    }
    Ok(pack)
}
