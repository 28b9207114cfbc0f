//! `stackpack-plugin-sdk`: write stackpack plugins in Rust.
//!
//! A plugin is a WebAssembly component (target `wasm32-wasip2`, crate type `cdylib`)
//! built against `wit/plugin.wit`. This crate generates the bindings of both worlds
//! once, so a plugin crate needs no `wit_bindgen::generate!` of its own:
//!
//! - a **source resolver** implements [`Resolver`] (`list_versions` has a default) and
//!   exports it with [`export_resolver!`]; the WIT types and host imports are in
//!   [`resolver`], with the glue stackpack's own resolvers use: git resolutions
//!   ([`resolver::resolve_git`]), tag listing ([`resolver::list_tag_versions`]),
//!   network-error mapping ([`resolver::net_error`]), forge locators, and for services
//!   that answer JSON ([`service`]) claiming a prefix, required config values and
//!   answers turned into errors that name the reference, the URL and the fix;
//! - an **override policy** implements [`Policy`] and exports it with
//!   [`export_policy!`]; its types are in [`policy`].
//!
//! Pure string helpers (URL and git-remote parsing, canonical identities, version
//! ordering and version-range splitting) come from `plugin-common`, re-exported as
//! [`text`]. A plugin does no I/O itself: the host performs `http-get`,
//! `git-list-refs`, `oci-list-tags` and `oci-get-manifest` for the hosts the operator
//! granted, and `config-get` reads the
//! plugin's config. The host imports are shims that panic outside wasm, so native unit
//! tests call the pure functions ([`service::answer_entry`], ...) with canned values.
//!
//! ```text
//! use stackpack_plugin_sdk::{Resolver, export_resolver};
//! use stackpack_plugin_sdk::resolver::{PackRef, PluginError, Resolved, ResolverInfo};
//!
//! struct Mine;
//! impl Resolver for Mine {
//!     fn describe() -> ResolverInfo { /* name, version, handles, requested hosts */ }
//!     fn resolve(reference: PackRef) -> Result<Resolved, PluginError> { /* ... */ }
//! }
//! export_resolver!(Mine);
//! ```
#![forbid(unsafe_code)]

pub mod policy;
pub mod resolver;
pub mod service;

pub use plugin_common as text;
pub use policy::Policy;
pub use resolver::Resolver;

/// Exports a type implementing [`Resolver`] as the component's `resolver` interface
/// (once per crate, at the crate root).
#[macro_export]
macro_rules! export_resolver {
    ($ty:ty) => {
        const _: () = {
            type __StackpackResolver = $crate::resolver::Export<$ty>;
            $crate::__export_source_resolver_impl!(
                __StackpackResolver with_types_in $crate::resolver::bindings
            );
        };
    };
}

/// Exports a type implementing [`Policy`] as the component's `policy` interface (once
/// per crate, at the crate root).
#[macro_export]
macro_rules! export_policy {
    ($ty:ty) => {
        const _: () = {
            type __StackpackPolicy = $crate::policy::Export<$ty>;
            $crate::__export_override_policy_impl!(
                __StackpackPolicy with_types_in $crate::policy::bindings
            );
        };
    };
}
