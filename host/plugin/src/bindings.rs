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
pub use resolver::exports::stackpack::plugin::resolver::ResolverInfo;
pub use resolver::stackpack::plugin::types::{
    ArchiveFormat, GitRef, PackRef, PackSummary, PluginError as Refusal, Resolution,
};
