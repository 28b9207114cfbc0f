//! The `source-resolver` world: its WIT types and host imports, the [`Resolver`]
//! trait a resolver implements, and the glue stackpack's own resolvers (github,
//! gitlab, git, file, index, oci) share with third-party ones.
//!
//! The shared glue: [`resolve_git`] builds the git [`Resolved`] for a located
//! repository, [`list_tag_versions`] lists its tags as versions, [`locate_forge`] and
//! [`configured_hosts`] serve the forge resolvers, and [`net_error`] /
//! [`describe_net_error`] turn a [`NetError`] into a [`PluginError`] or a message.
//! The host imports here are shims that panic outside wasm, so native tests must keep
//! away from [`configured_hosts`] and [`list_tag_versions`].

/// The generated bindings of the `source-resolver` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "source-resolver",
        pub_export_macro: true,
        default_bindings_module: "stackpack_plugin_sdk::resolver::bindings",
    });
}

pub use bindings::exports::stackpack::plugin::resolver::{Guest, Resolved, ResolverInfo};
pub use bindings::stackpack::plugin::host_base::{
    HostInfo, LogLevel, config_get, get_host_info, log,
};
pub use bindings::stackpack::plugin::net::{
    HttpRequest, HttpResponse, NetError, OciDescriptor, OciManifest, RemoteRef, git_list_refs,
    http_get, oci_get_manifest, oci_list_tags,
};
pub use bindings::stackpack::plugin::types::{
    ArchiveFormat, ArchiveSource, GitRef, GitSource, PackRef, PackSummary, PluginError, Resolution,
    VersionInfo,
};
pub use plugin_common::forge::ForgeRules;

/// A source resolver: what [`export_resolver!`](crate::export_resolver) exports.
pub trait Resolver {
    /// The plugin's name, version, the references it handles and the hosts it wants.
    fn describe() -> ResolverInfo;
    /// Where to get the pack `reference` names; [`PluginError::NotApplicable`] for a
    /// reference this resolver does not own, so the next resolver tries it.
    fn resolve(reference: PackRef) -> Result<Resolved, PluginError>;
    /// The versions of a pack, newest first. By default not supported
    /// (not-applicable), as the WIT allows.
    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        let _ = reference;
        Err(PluginError::NotApplicable)
    }
}

/// The adapter [`export_resolver!`](crate::export_resolver) hands to the bindings.
#[doc(hidden)]
pub struct Export<T>(std::marker::PhantomData<T>);

impl<T: Resolver> Guest for Export<T> {
    fn describe() -> ResolverInfo {
        T::describe()
    }
    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        T::resolve(reference)
    }
    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        T::list_versions(reference)
    }
}

use plugin_common::forge::{ForgeMatch, match_forge, requested_git_ref, versions_from_refs};
use plugin_common::{ConfiguredHost, parse_host_list, without_userinfo};

/// A git resolution of the whole repository at `url` (no subdirectory).
pub fn git_resolution(url: String, ref_: GitRef) -> Resolution {
    Resolution::Git(GitSource {
        url,
        ref_,
        subdir: None,
    })
}

/// The ref a reference asks for: the default branch without a version, `any(v)` with
/// one; an empty version (`x=`) is an `invalid-reference` (see [`requested_git_ref`]).
pub fn git_ref(reference: &PackRef) -> Result<GitRef, PluginError> {
    requested_git_ref(&reference.locator, reference.requested.as_deref())
        .map(|r| r.map_or(GitRef::DefaultBranch, GitRef::Any))
        .map_err(PluginError::InvalidReference)
}

/// A located repository resolved: git at `url`, the ref from [`git_ref`], no summary.
pub fn resolve_git(
    reference: &PackRef,
    url: String,
    canonical: String,
) -> Result<Resolved, PluginError> {
    Ok(Resolved {
        resolution: git_resolution(url, git_ref(reference)?),
        canonical,
        summary: None,
    })
}

/// The repository's tags as versions, newest first (via the host's `git-list-refs`,
/// see [`versions_from_refs`]); a network failure names the URL without credentials.
pub fn list_tag_versions(url: &str) -> Result<Vec<VersionInfo>, PluginError> {
    let refs = git_list_refs(url).map_err(|e| net_error(&without_userinfo(url), e))?;
    Ok(versions_from_refs(refs.iter().map(|r| r.name.as_str()))
        .into_iter()
        .map(|(version, tag)| VersionInfo {
            version,
            ref_: Some(tag),
            yanked: false,
        })
        .collect())
}

/// The extra forge hosts of the `hosts` config (comma-separated), none when unset.
pub fn configured_hosts() -> Vec<ConfiguredHost> {
    config_get("hosts")
        .map(|v| parse_host_list(&v))
        .unwrap_or_default()
}

/// The URL to fetch and the canonical identity of a forge locator (see
/// [`match_forge`]), or why it is not this forge's.
pub fn locate_forge(
    locator: &str,
    rules: &ForgeRules<'_>,
) -> Result<(String, String), PluginError> {
    match match_forge(locator.trim(), rules) {
        ForgeMatch::Repo { url, canonical } => Ok((url, canonical)),
        ForgeMatch::Invalid(msg) => Err(PluginError::InvalidReference(msg)),
        ForgeMatch::NotApplicable => Err(PluginError::NotApplicable),
    }
}

/// What went wrong, for a message that names the URL itself.
pub fn describe_net_error(e: &NetError) -> String {
    match e {
        NetError::Denied(m) => format!("denied: {m}"),
        NetError::Offline => "the host is offline".into(),
        NetError::Timeout => "timed out".into(),
        NetError::TooLarge(n) => format!("answer too large ({n} bytes)"),
        NetError::Transport(m) => m.clone(),
    }
}

/// A failed call to `url` as a plugin error: a refused grant stays `denied` (its text
/// names the capability), a reply too large is `other`, the rest `unavailable`.
pub fn net_error(url: &str, e: NetError) -> PluginError {
    match e {
        NetError::Denied(msg) => PluginError::Denied(msg),
        NetError::TooLarge(_) => PluginError::Other(format!("{url}: {}", describe_net_error(&e))),
        _ => PluginError::Unavailable(format!("{url}: {}", describe_net_error(&e))),
    }
}

#[cfg(test)]
#[path = "resolver_tests.rs"]
mod tests;
