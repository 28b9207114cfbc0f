//! The interpreter: finding `python_binary`, asking it who it is, and recognising it
//! again later without running it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ProxyEnv;
use crate::error::VenvError;
use crate::process;

/// Prints, one per line: `sys.executable`, its realpath, the version triple, the full
/// `sys.version`, pip's version (empty without pip). Valid Python 2 too, so that an old
/// interpreter is reported as such rather than as a crash.
const PROBE: &str = r#"import sys, os
print(sys.executable)
print(os.path.realpath(sys.executable))
print('%d.%d.%d' % tuple(sys.version_info[:3]))
print(sys.version.replace('\n', ' '))
try:
    import pip
    print(pip.__version__)
except Exception:
    print('')
"#;

/// Size, mtime and inode of a file: it changes when the file is replaced or upgraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub len: u64,
    pub mtime_ns: i128,
    pub dev: u64,
    pub ino: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Stamp> {
        let md = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: md.len(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            dev: md.dev(),
            ino: md.ino(),
        })
    }
}

/// Who the configured interpreter is. Stored in the venv's fingerprint file, which lets a
/// later run recognise it without starting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Interpreter {
    /// `python_binary` resolved to an absolute path (PATH lookup), symlinks kept.
    pub command: PathBuf,
    /// Its realpath and stamp.
    pub command_real: PathBuf,
    pub command_stamp: Stamp,
    /// `sys.executable`: what we run (skips wrapper scripts such as pyenv shims, keeps a
    /// venv interpreter a venv interpreter).
    pub run_as: PathBuf,
    /// realpath of `sys.executable` and its stamp: the interpreter's identity.
    pub executable: PathBuf,
    pub executable_stamp: Stamp,
    /// `3.11.7`
    pub version: String,
    /// the full `sys.version`
    pub sys_version: String,
    /// pip's version in that interpreter, if any (only known right after a probe).
    #[serde(skip)]
    pub pip: Option<String>,
}

impl Interpreter {
    pub fn version_triple(&self) -> (u32, u32, u32) {
        parse_triple(&self.version).unwrap_or((0, 0, 0))
    }
}

fn parse_triple(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
}

/// `name` as an absolute path: a path (anything with a `/`) as given, else the first
/// executable file of that name on PATH. No subprocess.
pub(crate) fn find_command(name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let path = std::path::absolute(name).ok()?;
        return is_executable_file(&path).then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .filter_map(|dir| std::path::absolute(dir.join(name)).ok())
        .find(|candidate| is_executable_file(candidate))
}

/// Runs `python` once and reads who it is; pip's version only with `want_pip`, as
/// that needs `site` (30 ms of the interpreter's 40 ms start-up here), skipped with `-S`.
pub(crate) fn probe(
    python: &str,
    proxy: &ProxyEnv,
    want_pip: bool,
) -> Result<Interpreter, VenvError> {
    let not_found = || VenvError::PythonNotFound {
        pack: None,
        python: python.to_owned(),
    };
    let command = find_command(python).ok_or_else(not_found)?;
    let failed = |detail: String| VenvError::PythonFailed {
        pack: None,
        python: python.to_owned(),
        detail,
    };
    let mut cmd = process::command(&command, proxy);
    if !want_pip {
        cmd.arg("-S");
    }
    cmd.arg("-c").arg(PROBE);
    let output = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_found(),
        _ => failed(e.to_string()),
    })?;
    if !output.status.success() {
        return Err(failed(format!(
            "{}: {}",
            output.status,
            process::relevant_output(&output)
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let [run_as, executable, version, sys_version, pip, ..] = lines.as_slice() else {
        return Err(failed(format!(
            "unexpected output {:?}",
            stdout.chars().take(300).collect::<String>()
        )));
    };
    let triple =
        parse_triple(version).ok_or_else(|| failed(format!("unexpected version {version:?}")))?;
    if triple.0 != 3 {
        return Err(VenvError::PythonTooOld {
            pack: None,
            python: python.to_owned(),
            version: (*version).to_owned(),
        });
    }
    let command_real = std::fs::canonicalize(&command).unwrap_or_else(|_| command.clone());
    let executable = PathBuf::from(executable);
    let stamp =
        |p: &Path| Stamp::of(p).ok_or_else(|| failed(format!("cannot stat {}", p.display())));
    Ok(Interpreter {
        command_stamp: stamp(&command_real)?,
        executable_stamp: stamp(&executable)?,
        command,
        command_real,
        run_as: PathBuf::from(run_as),
        executable,
        version: (*version).to_owned(),
        sys_version: (*sys_version).to_owned(),
        pip: Some((*pip).to_owned()).filter(|p| !p.is_empty()),
    })
}

/// The interpreter recorded in an existing venv, if `python` still names exactly that:
/// the same resolved command with the same file under it (same realpath, size, mtime,
/// inode), and the same interpreter binary. This is what lets a reuse start no process.
///
/// Known blind spot, accepted for speed: a wrapper script (a pyenv shim) that starts
/// another interpreter without changing itself (`pyenv global 3.12`) is not noticed while
/// the old interpreter still exists; `recreate` rebuilds. Running the wrapper instead
/// would cost ~50 to 150 ms per pack here, as much as building a venv with uv.
pub(crate) fn recognise(python: &str, stored: &Interpreter) -> Option<Interpreter> {
    let command = find_command(python)?;
    if command != stored.command {
        return None;
    }
    let real = std::fs::canonicalize(&command).ok()?;
    if real != stored.command_real
        || Stamp::of(&real)? != stored.command_stamp
        || Stamp::of(&stored.executable)? != stored.executable_stamp
    {
        return None;
    }
    Some(stored.clone())
}

/// The interpreter's version, by running it. A missing interpreter is an error naming it
/// and the `python_binary` setting.
pub fn python_version(python: &str) -> Result<(u32, u32, u32), VenvError> {
    Ok(probe(python, &ProxyEnv::default(), false)?.version_triple())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn triples() {
        assert_eq!(parse_triple("3.11.7"), Some((3, 11, 7)));
        assert_eq!(parse_triple("3.11"), None);
        assert_eq!(parse_triple("x.1.2"), None);
    }

    #[test]
    fn finds_sh_on_path_and_not_nonsense() {
        assert!(find_command("sh").is_some());
        assert!(find_command("no-such-command-stackpack").is_none());
        assert!(find_command("").is_none());
        assert!(find_command("/no/such/python").is_none());
    }
}
