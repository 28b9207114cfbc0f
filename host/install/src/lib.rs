//! Installing and removing packs, atomically. [`install()`] parses each reference,
//! asks the [`ResolverChain`] of resolver plugins where it lives, fetches it (git,
//! archive or local dir, through `stackpack-fetch`) into a [`Staging`] slot inside the
//! root, checks its pack.yaml, and follows its dependencies the same way, so the whole
//! graph is resolved and fetched before anything is written to `<root>/packs`; a
//! version conflict anywhere installs nothing. Staged packs are then swapped into place
//! with an atomic exchange, and the [`Lockfile`] records exactly what came from where.
//! A [`RootLock`] serializes stackpack processes working on one root. [`remove()`] takes
//! packs out the same careful way. The [`journal`] keeps the lockfile in step with
//! `<root>/packs` whenever a run is killed. [`sync::sync`] makes a root exactly what a
//! desired lockfile says, with the same install and removal.

mod error;
mod fetcher;
mod install;
pub mod journal;
mod lock;
pub mod lockfile;
mod plan;
mod remove;
mod resolve;
mod sources;
mod stage;
pub mod sync;
pub mod tree;

pub use error::{InstallError, InstalledConflict};
pub use install::{
    DEFAULT_STACKSTORM_VERSION, Env, InstallOptions, Outcome, PackResult, Report, install,
};
pub use journal::{JOURNAL_FILE, Recovered};
pub use lock::RootLock;
pub use lockfile::{LockedPack, Lockfile};
pub use remove::remove;
pub use resolve::{Located, ResolverChain};
pub use sources::SourcePolicy;
pub use stage::Staging;
pub use sync::{Desired, Difference, OverrideDifference, Plan, SyncState, Synced};
