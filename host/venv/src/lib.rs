//! Per-pack Python virtualenvs: `<root>/virtualenvs/<pack>` for every pack with Python
//! content, made with the configured interpreter (`python_binary`) and holding the pack's
//! requirements.txt. [`ensure`] keeps a venv whose fingerprint (interpreter,
//! requirements.txt with the files it includes by `-r`/`-c`, installer and its options) is
//! unchanged without starting any process, and otherwise builds a new one beside it
//! (`.build-<pack>-<pid>`) and swaps it in with an atomic rename exchange, so a running
//! sensor never sees a half-built venv and a failed build leaves the previous one
//! untouched. Venvs are created bare (no pip inside) by `uv venv` or
//! `python -m venv --without-pip`, and requirements are installed from outside by
//! `uv pip install --python` or `pip --python`, whichever [`InstallerChoice`] picks; proxies, the CA bundle, index
//! URLs, wheelhouses and offline mode from [`VenvConfig`] reach the installer. Main types:
//! [`VenvConfig`] (with [`ProxyEnv`] and [`InstallerChoice`]) in, [`VenvReport`] out,
//! [`VenvError`] on failure.

mod config;
mod ensure;
mod error;
mod fingerprint;
mod installer;
mod process;
mod python;
mod swap;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use config::{InstallerChoice, ProxyEnv, VenvConfig};
pub use ensure::ensure;
pub use error::VenvError;
pub use fingerprint::FILE_NAME as FINGERPRINT_FILE;
pub use python::python_version;

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VenvAction {
    /// The fingerprint matched: nothing was run or written.
    Kept,
    /// No venv existed.
    Created,
    /// A venv existed and was replaced.
    Rebuilt,
}

/// The outcome of [`ensure`] for one pack.
#[derive(Debug, Clone, Serialize)]
pub struct VenvReport {
    pub pack: String,
    pub path: PathBuf,
    pub action: VenvAction,
    /// The tool that built the venv, with its version: `uv 0.13.9`, `pip 23.2.1`.
    pub installer: String,
    /// The interpreter's version, `3.11.7`.
    pub python: String,
    pub seconds: f64,
}

/// A pack needs a venv when it has Python content: requirements.txt, or `*.py` under
/// `actions/` or `sensors/` (recursively; symlinked directories are not followed), or a
/// `lib/` directory.
pub fn has_python_content(pack_dir: &Path) -> bool {
    pack_dir.join("requirements.txt").is_file()
        || pack_dir.join("lib").is_dir()
        || ["actions", "sensors"]
            .iter()
            .any(|sub| has_py_file(&pack_dir.join(sub), 0))
}

fn has_py_file(dir: &Path, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            subdirs.push(path);
        } else if path.extension().is_some_and(|e| e == "py") {
            return true;
        }
    }
    subdirs.iter().any(|d| has_py_file(d, depth + 1))
}
