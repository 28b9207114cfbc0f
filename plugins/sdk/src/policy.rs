//! The `override-policy` world: its WIT types and host imports (no network: a policy
//! is a pure function of its inputs and config), and the [`Policy`] trait a policy
//! implements.

/// The generated bindings of the `override-policy` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "override-policy",
        pub_export_macro: true,
        default_bindings_module: "stackpack_plugin_sdk::policy::bindings",
    });
}

pub use bindings::exports::stackpack::plugin::policy::{
    Guest, PackContext, PackResource, PolicyInfo, ResourceKind, Verdict,
};
pub use bindings::stackpack::plugin::host_base::{
    HostInfo, LogLevel, config_get, get_host_info, log,
};
pub use bindings::stackpack::plugin::types::PackSummary;

/// An override policy: what [`export_policy!`](crate::export_policy) exports.
pub trait Policy {
    /// The plugin's name, version and description.
    fn describe() -> PolicyInfo;
    /// One verdict per resource, index-aligned: [`Verdict::Keep`] abstains (the next
    /// policy, then the pack's own value, decides). `Err` fails the pack's
    /// registration with that message, which should say what to fix.
    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String>;
}

/// The adapter [`export_policy!`](crate::export_policy) hands to the bindings.
#[doc(hidden)]
pub struct Export<T>(std::marker::PhantomData<T>);

impl<T: Policy> Guest for Export<T> {
    fn describe() -> PolicyInfo {
        T::describe()
    }
    fn decide(ctx: PackContext, resources: Vec<PackResource>) -> Result<Vec<Verdict>, String> {
        T::decide(ctx, resources)
    }
}

/// A config value the policy cannot work without (trimmed, not empty), or the error
/// that fails the decision and says how to set it:
/// `` "<plugin>: `<key>` is not configured; set it in the config: [plugins.<plugin>] config = { <key> = \"<example>\" }" ``.
/// `value` is what [`config_get`] returned, so this is testable natively.
pub fn required(
    plugin: &str,
    key: &str,
    example: &str,
    value: Option<String>,
) -> Result<String, String> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(format!(
            "{plugin}: `{key}` is not configured; set it in the config: \
             [plugins.{plugin}] config = {{ {key} = \"{example}\" }}"
        )),
    }
}
