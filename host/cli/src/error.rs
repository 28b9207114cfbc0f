//! The CLI's error type and exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when stdout is closed early, as by `| head`) |
//! | 1 | the work failed (network, disk, a plugin, a pack's content; per-pack failures) |
//! | 2 | usage: bad arguments, a bad config file, reference, digest or input file |
//! | 3 | not found: a pack, an index entry, a plugin |
//! | 4 | conflict: dependency versions, a pack others need, a plugin already added, a busy root, a root that differs from the desired lockfile (`sync --check`) |
//! | 5 | denied: a pin that does not match, an enterprise rule |
//! | 6 | handoff: the local work is done, but the running StackStorm was not told (its API was down, slow, or refused the credentials or the packs) |

use stackpack_ops::{ErrorKind, OpsError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Ops(Box<OpsError>),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// The failure was already reported on stdout (per-pack results); exit with the
    /// kind's code and print nothing more.
    #[error("")]
    Reported(ErrorKind),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Ops(e) => code(e.kind()),
            CliError::Output(_) => 1,
            CliError::Reported(kind) => code(*kind),
        }
    }

    /// stdout was closed by its reader: not an error worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Failed => 1,
        ErrorKind::Usage => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Conflict => 4,
        ErrorKind::Denied => 5,
        ErrorKind::Handoff => 6,
    }
}

impl From<OpsError> for CliError {
    fn from(e: OpsError) -> Self {
        CliError::Ops(Box::new(e))
    }
}
