//! stackpack's plugin runtime: runs source resolvers and override policies as
//! sandboxed WebAssembly components defined by `wit/plugin.wit`.
//!
//! One [`Runtime`] per process owns the wasmtime [`wasmtime::Engine`] and the
//! compiled-code cache (`<sha256>-<engine>.cwasm`, so a plugin is compiled once and
//! then loaded in well under a millisecond). [`Runtime::load`] turns a [`PluginSpec`]
//! (name, bytes, [`Grants`], [`Limits`], config values) into a [`Plugin`], after
//! checking which world it implements and which API version it targets. Every call
//! ([`Plugin::resolve`], [`Plugin::decide`]...) runs in a fresh instance with an empty
//! WASI context (no filesystem, environment, arguments or sockets), a memory limit, a
//! time limit enforced by epoch interruption, and its output captured into the log with
//! a size cap. Network access goes through the host's `net` imports only, checked
//! against the plugin's grants on every hop and performed by a [`NetBackend`] the
//! embedder provides (the network types and the grants live in `stackpack-net`, which
//! does not depend on wasmtime; they are re-exported here).
//!
//! WIT types stay inside this crate: [`Plugin::resolve`] takes the host's
//! [`stackpack_core::PackRef`] and answers a [`Resolved`] holding a
//! [`stackpack_core::Source`] (the conversions are in `source.rs`).

mod bindings;
mod engine_config;
mod error;
mod host;
pub mod replay;
mod runtime;
mod shape;
mod source;

pub use bindings::{
    PackContext, PackResource, PackSummary, PolicyInfo, Refusal, ResolverInfo, ResourceKind,
    Verdict,
};
pub use error::PluginError;
pub use host::Limits;
pub use replay::{Recorded, ReplayNet};
pub use runtime::{CallStats, CodeSource, Description, Plugin, PluginKind, PluginSpec, Runtime};
pub use shape::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, Shape};
pub use source::Resolved;
/// The network types, re-exported from `stackpack-net` for the runtime's users.
pub use stackpack_net::{HttpReply, NetBackend, NetFailure, NoNetwork, grants, grants::Grants};

/// The WIT package plugins are built against.
pub const API_PACKAGE: &str = "stackpack:plugin";
/// The API version this host implements (and reports to guests).
pub const API_VERSION: &str = "0.1.0";
/// Every API version this host can load.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["0.1.0"];
/// This host's version, reported to guests.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hex sha256 of a component's bytes: what plugins are pinned by, and what
/// [`Plugin::sha256`] reports.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
