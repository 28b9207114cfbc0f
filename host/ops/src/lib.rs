//! stackpack's operations as a library. A command builds one [`Session`] (root,
//! settings resolved once, enterprise rules, and the lazily made network client, plugin
//! runtime, resolver and policy chains, discovery of installed packs and lockfile), then
//! calls one operation: [`install::install`], [`install::remove`],
//! [`register::register`], [`venv::venv`], the [`config`] steps, the [`plugin`]
//! operations and the [`index`] ones ([`index::search`], [`index::show`],
//! [`index::health`]), and [`packs::list`] / [`packs::get`], and [`sync::sync`], which makes the root exactly what a
//! desired lockfile says, and [`push::push`] / [`push::push_lockfile`], which publish a pack
//! or this root's lockfile as an OCI artifact. Each takes typed inputs
//! and returns a typed report that serializes to the `--json` output; failures are one
//! [`OpsError`] whose [`ErrorKind`] tells usage errors, missing things, conflicts,
//! refusals and failures apart. Nothing here prints: progress goes through the
//! session's [`Progress`], messages for the operator through `tracing`.
//!
//! After `install` and `register`, [`st2::handoff`] asks a running StackStorm's API to
//! register the same packs, when one is configured; after `remove`,
//! [`st2::handoff_removed`] asks it to delete the removed packs' resources.
//!
//! The plugin chain (built-ins, added plugins, config-declared ones, their pins and
//! the enterprise rules on them) is assembled in [`chain`].

pub mod chain;
pub mod config;
mod error;
pub mod index;
pub mod install;
pub mod packs;
pub mod plugin;
pub mod plugin_oci;
pub mod push;
pub mod register;
pub mod scaffold;
mod session;
pub mod st2;
pub mod sync;
pub mod sync_oci;
pub mod venv;

pub use error::{ErrorKind, OpsError};
pub use session::{DEFAULT_ROOT, LazyNet, Session, SessionOptions};
pub use stackpack_core::{Progress, Silent, Task};
