//! The build directory and the swap: `<venvs>/.build-<pack>-<pid>` is where a venv is
//! made; its absolute paths are rewritten to the final ones, and it is then exchanged with
//! `<venvs>/<pack>` in one `renameat2(RENAME_EXCHANGE)` so that a running sensor sees the
//! old venv or the new one, never a half-built one. All our own writes go through cap-std
//! handles on the venvs directory.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use rustix::fs::{RenameFlags, renameat_with};
use rustix::io::Errno;

use crate::error::VenvError;

/// Files bigger than this in `bin/` are not scripts.
const MAX_SCRIPT: u64 = 4 << 20;

pub(crate) fn build_prefix(pack: &str) -> String {
    format!(".build-{pack}-")
}

/// Removes build dirs of `pack` left by runs that died (their pid is gone). A live
/// process's build dir is left alone.
pub(crate) fn remove_stale_builds(venvs: &Dir, venvs_path: &Path, pack: &str) {
    let prefix = build_prefix(pack);
    let Ok(entries) = venvs.entries() else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(
                "removing a virtualenv build left by an interrupted run: {}",
                venvs_path.join(name).display()
            );
            remove_entry(venvs, name);
        }
    }
}

/// Removes a directory tree or a file, ignoring errors.
pub(crate) fn remove_entry(dir: &Dir, name: &str) {
    match dir.symlink_metadata(name) {
        Ok(md) if md.is_dir() => {
            if let Err(e) = dir.remove_dir_all(name) {
                tracing::warn!("cannot remove {name}: {e}");
            }
        }
        Ok(_) => {
            let _ = dir.remove_file(name);
        }
        Err(_) => {}
    }
}

/// Removes the build dir when dropped, unless disarmed: any failure between its creation
/// and the swap leaves nothing behind.
pub(crate) struct BuildGuard<'a> {
    pub venvs: &'a Dir,
    pub name: String,
    pub armed: bool,
}

impl Drop for BuildGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            remove_entry(self.venvs, &self.name);
        }
    }
}

/// Rewrites the build path to the final path in `bin/*` text files (shebangs of console
/// scripts, activate scripts) and `pyvenv.cfg`, so that the venv works once renamed.
/// `pairs` are (from, to), applied in order.
pub(crate) fn fix_paths(
    build: &Dir,
    build_path: &Path,
    pairs: &[(String, String)],
    pack: &str,
) -> Result<usize, VenvError> {
    let mut files: Vec<String> = vec!["pyvenv.cfg".to_owned()];
    if let Ok(entries) = build.read_dir("bin") {
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                files.push(format!("bin/{name}"));
            }
        }
    }
    let mut fixed = 0;
    for file in files {
        let Ok(md) = build.symlink_metadata(&file) else {
            continue;
        };
        if !md.is_file() || md.len() > MAX_SCRIPT {
            continue;
        }
        let Ok(bytes) = build.read(&file) else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // a binary launcher
        };
        let mut new = text.clone();
        for (from, to) in pairs {
            if new.contains(from.as_str()) {
                new = new.replace(from.as_str(), to);
            }
        }
        if new != text {
            build.write(&file, new.as_bytes()).map_err(VenvError::io(
                pack,
                "rewrite paths in",
                build_path.join(&file),
            ))?;
            fixed += 1;
        }
    }
    Ok(fixed)
}

/// Puts `build` at `pack` in `venvs`. With a previous venv: one atomic exchange, after
/// which `build` holds the old venv (the caller removes it); where the filesystem cannot
/// exchange, two renames (the old one moved aside first). Without: a rename that never
/// replaces. Returns whether a previous venv was replaced.
pub(crate) fn swap_in(
    venvs: &Dir,
    venvs_path: &Path,
    build: &str,
    pack: &str,
) -> Result<bool, VenvError> {
    let dest: PathBuf = venvs_path.join(pack);
    let fail = |e: Errno| VenvError::io(pack, "move the new virtualenv into", &dest)(e.into());
    let exists = venvs.symlink_metadata(pack).is_ok();
    if !exists {
        return match renameat_with(venvs, build, venvs, pack, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(false),
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                venvs.rename(build, venvs, pack).map_err(VenvError::io(
                    pack,
                    "move the new virtualenv into",
                    &dest,
                ))?;
                Ok(false)
            }
            Err(e) => Err(fail(e)),
        };
    }
    match renameat_with(venvs, build, venvs, pack, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            tracing::warn!(
                "{}: the filesystem cannot exchange directories atomically; replacing the \
                 virtualenv with two renames",
                dest.display()
            );
            let aside = format!(".old-{pack}-{}", std::process::id());
            remove_entry(venvs, &aside);
            venvs.rename(pack, venvs, &aside).map_err(VenvError::io(
                pack,
                "move aside the old virtualenv",
                &dest,
            ))?;
            if let Err(e) = venvs.rename(build, venvs, pack) {
                // Put the old one back: the previous venv must stay as it was.
                let _ = venvs.rename(&aside, venvs, pack);
                return Err(VenvError::io(pack, "move the new virtualenv into", &dest)(
                    e,
                ));
            }
            // The caller removes `build`: make it the old venv, as after an exchange.
            let _ = venvs.rename(&aside, venvs, build);
            Ok(true)
        }
        Err(e) => Err(fail(e)),
    }
}
