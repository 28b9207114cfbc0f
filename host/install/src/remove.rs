//! `remove`: take packs out of `<root>/packs` (atomically, via staging), with their
//! virtualenvs. Configs in `<root>/configs` are kept. A pack other installed packs
//! depend on, or one that ships with StackStorm, needs `--force`.

use stackpack_core::{PackRef, RefKind, SYSTEM_PACKS};
use stackpack_site::{Root, discover, find};

use crate::error::InstallError;
use crate::install::{Outcome, PackResult, Report};
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
    let staging = Staging::new(&root_dir, root.path())?;
    let installed = discover(search_paths)?;
    let packs_path = root.packs_dir();
    let packs_dir = root_dir
        .open_dir(stackpack_site::root::PACKS_DIR)
        .map_err(InstallError::io("cannot open", &packs_path))?;
    let mut lockfile = Lockfile::read(&root.lockfile())?;
    let mut results = Vec::new();
    let mut changed = false;
    for name in packs {
        let outcome = (|| -> Result<Outcome, InstallError> {
            let Some(pack) = find(&installed, name) else {
                return Err(InstallError::NotInstalled {
                    pack: name.clone(),
                    packs_dir: packs_path.clone(),
                });
            };
            if pack.base_path != packs_path {
                return Err(InstallError::NotManaged {
                    pack: name.clone(),
                    path: pack.path.clone(),
                });
            }
            if !force {
                if SYSTEM_PACKS.contains(&name.as_str()) {
                    return Err(InstallError::SystemPack { pack: name.clone() });
                }
                let dependents: Vec<String> = installed
                    .iter()
                    .filter(|p| p.is_active() && p.ref_ != *name && !packs.contains(&p.ref_))
                    .filter(|p| {
                        p.meta().is_some_and(|m| {
                            m.dependencies.iter().any(|d| {
                                PackRef::parse(d).is_ok_and(|r| match r.kind() {
                                    RefKind::IndexName => r.locator() == name,
                                    _ => r.dependency_name() == *name,
                                })
                            })
                        })
                    })
                    .map(|p| p.ref_.clone())
                    .collect();
                if !dependents.is_empty() {
                    return Err(InstallError::Required {
                        pack: name.clone(),
                        dependents,
                    });
                }
            }
            staging.take_out(&packs_dir, &packs_path, name)?;
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
        })();
        results.push(PackResult {
            requested: name.clone(),
            dependency_of: None,
            outcome: outcome.unwrap_or_else(|e| Outcome::Failed {
                reason: e.to_string(),
            }),
        });
    }
    if changed {
        lockfile.write(&root.path().join(stackpack_site::root::LOCKFILE))?;
    }
    Ok(Report {
        results,
        warnings: Vec::new(),
    })
}
