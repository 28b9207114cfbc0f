//! The one error type of this crate. Every message names the pack (when there is one),
//! what failed and what to do about it; installer output is already filtered to its
//! relevant lines and redacted (no URL password survives).

use std::path::PathBuf;

/// `pack "x": ` when the error belongs to a pack, nothing otherwise.
fn pack_prefix(pack: &Option<String>) -> String {
    match pack {
        Some(p) => format!("pack \"{p}\": "),
        None => String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    #[error(
        "invalid pack name \"{pack}\": a virtualenv is named after the pack ref, which may only \
         contain a-z, 0-9 and '_'; fix `ref` in the pack's pack.yaml"
    )]
    InvalidPackName { pack: String },

    #[error(
        "pack name \"{pack}\" is reserved and cannot have a virtualenv; give the pack another ref"
    )]
    ReservedPackName { pack: String },

    #[error(
        "{}Python interpreter \"{python}\" not found (the `python_binary` setting); install \
         Python 3 or set python_binary to an interpreter's name on PATH or its path",
        pack_prefix(.pack)
    )]
    PythonNotFound {
        pack: Option<String>,
        python: String,
    },

    #[error(
        "{}Python interpreter \"{python}\" (the `python_binary` setting) did not run: {detail}; \
         point python_binary at a working Python 3 interpreter",
        pack_prefix(.pack)
    )]
    PythonFailed {
        pack: Option<String>,
        python: String,
        detail: String,
    },

    #[error(
        "{}\"{python}\" (the `python_binary` setting) is Python {version}; pack virtualenvs need \
         Python 3, so set python_binary to a Python 3 interpreter",
        pack_prefix(.pack)
    )]
    PythonTooOld {
        pack: Option<String>,
        python: String,
        version: String,
    },

    #[error(
        "pack \"{pack}\": the configured uv \"{}\" is not an executable file; install uv there, \
         fix the installer setting, or choose the pip installer",
        .path.display()
    )]
    UvNotFound { pack: String, path: PathBuf },

    #[error(
        "pack \"{pack}\": {detail}, and it is needed to install requirements.txt when uv is not \
         used; install uv (`pip install --user uv`) or a recent pip for \"{python}\""
    )]
    PipUnavailable {
        pack: String,
        python: String,
        detail: String,
    },

    #[error(
        "pack \"{pack}\": cannot run {program}: {source}; check that it is installed and executable"
    )]
    Spawn {
        pack: String,
        program: String,
        source: std::io::Error,
    },

    #[error(
        "pack \"{pack}\": creating the virtualenv with {tool} failed; the previous virtualenv \
         (if any) is unchanged. {tool} said:\n{output}"
    )]
    CreateFailed {
        pack: String,
        tool: String,
        output: String,
    },

    #[error(
        "pack \"{pack}\": installing {} with {tool} failed; the previous virtualenv (if any) is \
         unchanged. Fix the requirement, or the index, wheelhouse, proxy or offline settings, \
         then run again. {tool} said:\n{output}",
        .requirements.display()
    )]
    InstallFailed {
        pack: String,
        tool: String,
        requirements: PathBuf,
        output: String,
    },

    #[error(
        "pack \"{pack}\": cannot {action} {}: {source}; check the permissions and free space of \
         the virtualenvs directory",
        .path.display()
    )]
    Io {
        pack: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl VenvError {
    /// A closure for `map_err` that builds an [`VenvError::Io`].
    pub(crate) fn io(
        pack: &str,
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> VenvError {
        let pack = pack.to_owned();
        let path = path.into();
        move |source| VenvError::Io {
            pack,
            action,
            path,
            source,
        }
    }

    /// Attaches the pack to an interpreter error raised without one.
    pub(crate) fn for_pack(self, name: &str) -> VenvError {
        let named = Some(name.to_owned());
        match self {
            VenvError::PythonNotFound { pack: None, python } => VenvError::PythonNotFound {
                pack: named,
                python,
            },
            VenvError::PythonFailed {
                pack: None,
                python,
                detail,
            } => VenvError::PythonFailed {
                pack: named,
                python,
                detail,
            },
            VenvError::PythonTooOld {
                pack: None,
                python,
                version,
            } => VenvError::PythonTooOld {
                pack: named,
                python,
                version,
            },
            other => other,
        }
    }
}
