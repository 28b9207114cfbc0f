//! Host bindings generated from `wit/plugin.wit`, one module per world. The policy
//! world reuses the resolver world's `types` and `host-base` so a single host
//! implementation serves both.

pub mod resolver {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "stackpack:plugin/source-resolver",
        additional_derives: [PartialEq],
    });
}

pub mod policy {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "stackpack:plugin/override-policy",
        additional_derives: [PartialEq],
        with: {
            "stackpack:plugin/types": super::resolver::stackpack::plugin::types,
            "stackpack:plugin/host-base": super::resolver::stackpack::plugin::host_base,
        },
    });
}

pub use policy::exports::stackpack::plugin::policy::{
    PackContext, PackResource, PolicyInfo, ResourceKind, Verdict,
};
pub use resolver::exports::stackpack::plugin::resolver::{Resolved, ResolverInfo};
pub use resolver::stackpack::plugin::types::{
    ArchiveFormat, ArchiveSource, GitRef, GitSource, PackRef, PackSummary, PluginError as Refusal,
    Resolution, VersionInfo,
};

/// The host's parsed reference as the WIT record a resolver receives: the raw text
/// and the host's own split (last `=` outside userinfo and query).
impl From<&stackpack_core::PackRef> for PackRef {
    fn from(r: &stackpack_core::PackRef) -> PackRef {
        PackRef {
            raw: r.raw().to_string(),
            locator: r.locator().to_string(),
            requested: r.requested().map(str::to_string),
        }
    }
}
