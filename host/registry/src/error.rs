use std::path::PathBuf;

use crate::content::Problem;

/// Why registering (or reading the registry) failed. Each message names the pack, the
/// file or the policy, and what to do; a failed pack keeps its previous registration.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot open the registry {}: {source}. Check that the file and its directory are \
         writable; if the file is damaged, move it away and run `stackpack register` to \
         rebuild it from the installed packs",
        path.display()
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error(
        "cannot bring the registry {} to this stackpack's schema: {source}. If it was written \
         by a newer stackpack, use that one, or move the file away and run `stackpack register`",
        path.display()
    )]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },

    #[error(
        "the registry {} is from an older stackpack; run `stackpack register` to upgrade it",
        path.display()
    )]
    Outdated { path: PathBuf },

    #[error("registry {} ({doing}): {source}", path.display())]
    Sql {
        path: PathBuf,
        doing: &'static str,
        source: rusqlite::Error,
    },

    #[error(
        "override policy \"{policy}\" failed on pack \"{pack}\": {message}. The pack's previous \
         registration is kept; do what the message says and register again"
    )]
    PolicyRefused {
        policy: String,
        pack: String,
        message: String,
    },

    #[error(
        "override policy failed on pack \"{pack}\": {source}. The pack's previous registration \
         is kept; fix or remove the policy and register again"
    )]
    Policy {
        pack: String,
        source: crate::policy::PolicyFailure,
    },

    #[error(
        "pack \"{pack}\" was not registered (--fail-on-failure), its previous registration is \
         kept: {}",
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
    )]
    InvalidContent {
        pack: String,
        problems: Vec<Problem>,
    },
}
