//! `venv`: build or refresh an installed pack's Python virtualenv.

use stackpack_venv::VenvReport;

use crate::error::OpsError;
use crate::session::Session;

/// `stackpack venv <pack> [--recreate]`.
pub fn venv(s: &Session, pack: &str, recreate: bool) -> Result<VenvReport, OpsError> {
    let found = crate::packs::installed(s, pack)?;
    s.root.ensure()?;
    let task = stackpack_core::Task::start(
        s.progress.as_ref(),
        &format!("building the virtualenv of {pack}"),
    );
    let result = stackpack_venv::ensure(
        &s.root.virtualenvs_dir(),
        pack,
        &found.path,
        &s.venv,
        recreate,
    );
    drop(task);
    Ok(result?)
}
