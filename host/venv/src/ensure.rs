//! `ensure`: keep a venv whose fingerprint matches, else build one beside it and swap it in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::config::VenvConfig;
use crate::error::VenvError;
use crate::fingerprint::{self, Options, Record};
use crate::installer::Installer;
use crate::python::{self, Interpreter};
use crate::swap::{self, BuildGuard};
use crate::{VenvAction, VenvReport, process};

/// A pack name becomes a directory name: `^[a-z0-9_]+$`, and not `_global`, as st2 requires.
fn check_pack_name(pack: &str) -> Result<(), VenvError> {
    if pack.is_empty()
        || !pack
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(VenvError::InvalidPackName {
            pack: pack.to_owned(),
        });
    }
    if pack == "_global" {
        return Err(VenvError::ReservedPackName {
            pack: pack.to_owned(),
        });
    }
    Ok(())
}

/// Whether requirements.txt asks for anything (not only blank lines and comments).
fn has_requirements(requirements: &[u8]) -> bool {
    String::from_utf8_lossy(requirements).lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    })
}

/// The venv's interpreter is there and executable (a dangling symlink is not): the cheap
/// stand-in for "it still runs", with no process started.
fn venv_python_ok(venv: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(venv.join("bin/python"))
        .is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
}

/// Makes `<venvs_dir>/<pack>` match the pack: kept as is when its fingerprint matches,
/// else built beside and swapped in.
///
/// The fingerprint covers the interpreter (realpath of `sys.executable` and its full
/// version), requirements.txt (absent = empty) with the files it includes by `-r`/`-c`,
/// the installer kind and the installer options (index URL, extra index URLs,
/// find-links, offline). A reuse starts no process when the interpreter is recognised
/// from the record (same command resolving to the same unchanged files, and the venv's
/// `bin/python` still there); otherwise the interpreter is run once to learn what it
/// is. A wrapper script (pyenv shim) switched to another interpreter without changing
/// itself is not noticed: pass `recreate`, which rebuilds regardless. On failure the
/// previous venv is left exactly as it was and nothing is left behind.
pub fn ensure(
    venvs_dir: &Path,
    pack: &str,
    pack_dir: &Path,
    cfg: &VenvConfig,
    recreate: bool,
) -> Result<VenvReport, VenvError> {
    let started = Instant::now();
    check_pack_name(pack)?;
    let venvs_path = normalize(
        &std::path::absolute(venvs_dir).map_err(VenvError::io(pack, "resolve", venvs_dir))?,
    );
    let venv_path = venvs_path.join(pack);
    let req_path = std::path::absolute(pack_dir.join("requirements.txt"))
        .map_err(VenvError::io(pack, "resolve", pack_dir))?;
    // Read only when a regular file: a fifo planted there would block the read.
    let requirements = match stackpack_fs::read_limited(&req_path, 16 << 20) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(VenvError::io(pack, "read", &req_path)(e)),
    };
    // What the fingerprint covers: requirements.txt and the files it includes.
    let req_input = fingerprint::with_includes(&req_path, &requirements);
    let installer = Installer::resolve(&cfg.installer, pack)?;
    let options = Options::new(installer.kind(), cfg);
    let record = Record::read(&venv_path);

    let want_pip = installer == Installer::Pip;
    // An interpreter probed while checking the record, reusable by the build.
    let mut probed = None;
    if !recreate && let Some(record) = &record {
        let interp = match python::recognise(&cfg.python, &record.python) {
            Some(interp) => interp,
            None => {
                let fresh = python::probe(&cfg.python, &cfg.proxy, want_pip)
                    .map_err(|e| e.for_pack(pack))?;
                probed = Some(fresh.clone());
                fresh
            }
        };
        if fingerprint::compute(&interp, &req_input, &options) == record.fingerprint
            && venv_python_ok(&venv_path)
        {
            tracing::debug!("{pack}: virtualenv up to date, kept");
            return Ok(VenvReport {
                pack: pack.to_owned(),
                path: venv_path,
                action: VenvAction::Kept,
                installer: record.installer.clone(),
                python: interp.version.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }

    // Build, after a fresh probe: it also tells pip's version and that the interpreter runs.
    let interp = match probed {
        Some(interp) => interp,
        None => python::probe(&cfg.python, &cfg.proxy, want_pip).map_err(|e| e.for_pack(pack))?,
    };
    let fingerprint = fingerprint::compute(&interp, &req_input, &options);
    let install = has_requirements(&requirements);
    if install {
        installer.check_can_install(&interp, cfg, pack)?;
    }
    let tool = installer.describe(&interp, cfg, pack);
    tracing::info!("{pack}: building its virtualenv with {tool}");

    Dir::create_ambient_dir_all(&venvs_path, ambient_authority()).map_err(VenvError::io(
        pack,
        "create",
        &venvs_path,
    ))?;
    let venvs = Dir::open_ambient_dir(&venvs_path, ambient_authority()).map_err(VenvError::io(
        pack,
        "open",
        &venvs_path,
    ))?;
    swap::remove_stale_builds(&venvs, &venvs_path, pack);
    let build_name = format!("{}{}", swap::build_prefix(pack), std::process::id());
    let build_path = venvs_path.join(&build_name);
    let mut guard = BuildGuard {
        venvs: &venvs,
        name: build_name.clone(),
        armed: true,
    };

    create_venv(&installer, &interp, cfg, pack, &build_path, &tool)?;
    if install {
        let venv_python = build_path.join("bin/python");
        let cmd = installer.install_command(&interp, cfg, &venv_python, &req_path, pack_dir);
        let output = process::run(cmd, pack, &tool)?;
        process::log_warnings(pack, &output);
        if !output.status.success() {
            return Err(VenvError::InstallFailed {
                pack: pack.to_owned(),
                tool,
                requirements: req_path,
                output: process::relevant_output(&output),
            });
        }
    }

    let build = venvs
        .open_dir(&build_name)
        .map_err(VenvError::io(pack, "open", &build_path))?;
    let fixed = swap::fix_paths(
        &build,
        &build_path,
        &path_pairs(&build_path, &venvs_path, pack),
        pack,
    )?;
    tracing::debug!("{pack}: rewrote the build path in {fixed} files");
    let record = Record::new(
        pack,
        fingerprint,
        tool.clone(),
        &interp,
        &req_input,
        &options,
    );
    build
        .write(fingerprint::FILE_NAME, record.to_json())
        .map_err(VenvError::io(
            pack,
            "write",
            build_path.join(fingerprint::FILE_NAME),
        ))?;
    drop(build);

    let replaced = swap::swap_in(&venvs, &venvs_path, &build_name, pack)?;
    // After an exchange the build name holds the previous venv, which the guard removes;
    // after a plain rename nothing is left under it.
    guard.armed = replaced;
    drop(guard);
    let action = if replaced {
        VenvAction::Rebuilt
    } else {
        VenvAction::Created
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!("{pack}: virtualenv {action:?} with {tool} in {seconds:.2}s");
    Ok(VenvReport {
        pack: pack.to_owned(),
        path: venv_path,
        action,
        installer: tool,
        python: interp.version.clone(),
        seconds,
    })
}

/// Creates the bare venv at `build_path`. uv gets `--relocatable`; an older uv without
/// that flag is retried without it (the path rewrite covers what it would have done).
fn create_venv(
    installer: &Installer,
    interp: &Interpreter,
    cfg: &VenvConfig,
    pack: &str,
    build_path: &Path,
    tool: &str,
) -> Result<(), VenvError> {
    let mut relocatable = matches!(installer, Installer::Uv(_));
    loop {
        let cmd = installer.create_command(interp, cfg, pack, build_path, relocatable);
        let output = process::run(cmd, pack, tool)?;
        if output.status.success() {
            process::log_warnings(pack, &output);
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if relocatable && stderr.contains("--relocatable") {
            relocatable = false;
            continue;
        }
        return Err(VenvError::CreateFailed {
            pack: pack.to_owned(),
            tool: tool.to_owned(),
            output: process::relevant_output(&output),
        });
    }
}

/// `.` and `..` removed lexically, as Python's `os.path.abspath` does: the form
/// `python -m venv` writes into scripts.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// (build path → final path), for the path as given and, when symlinks make it differ,
/// as resolved (a tool may write either).
fn path_pairs(build_path: &Path, venvs_path: &Path, pack: &str) -> Vec<(String, String)> {
    let mut pairs = vec![(
        build_path.to_string_lossy().into_owned(),
        venvs_path.join(pack).to_string_lossy().into_owned(),
    )];
    if let (Ok(real_build), Ok(real_venvs)) = (
        std::fs::canonicalize(build_path),
        std::fs::canonicalize(venvs_path),
    ) && real_build != build_path
    {
        let real_final: PathBuf = real_venvs.join(pack);
        pairs.push((
            real_build.to_string_lossy().into_owned(),
            real_final.to_string_lossy().into_owned(),
        ));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_names() {
        assert!(check_pack_name("my_pack2").is_ok());
        for bad in ["", "My-Pack", "a.b", "../x", "a/b", "é"] {
            assert!(
                matches!(check_pack_name(bad), Err(VenvError::InvalidPackName { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_pack_name("_global"),
            Err(VenvError::ReservedPackName { .. })
        ));
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn requirements_presence() {
        assert!(!has_requirements(b""));
        assert!(!has_requirements(b"# only a comment\n\n   \n"));
        assert!(has_requirements(b"# c\nrequests>=2\n"));
    }
}
