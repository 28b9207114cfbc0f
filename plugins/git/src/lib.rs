//! `git`: any other git remote, last in the chain: `https://host/path[.git]`,
//! `http://…`, `ssh://[user@]host/path`, `git://host/path` and scp-like
//! `user@host:path`. It resolves to `resolution::git` with the URL as written (the host
//! fetches it; credentials in the URL stay with the host), the default branch when no
//! version is given and `any(x)` otherwise. The canonical identity is `host/path`
//! without `.git` and without credentials. It reaches no network itself: listing
//! versions is left to the host.

use plugin_common::{GitLocator, canonical_from_url, parse_git_locator};
use stackpack_plugin_sdk::resolver::{
    PackRef, PluginError, Resolved, Resolver, ResolverInfo, VersionInfo, resolve_git,
};

struct Git;

const SCHEMES: [&str; 5] = ["https", "http", "ssh", "git", "git+ssh"];

fn locate(locator: &str) -> Result<(String, String), PluginError> {
    let Some(parsed) = parse_git_locator(locator.trim()) else {
        return Err(PluginError::NotApplicable);
    };
    if let GitLocator::Url(u) = &parsed
        && !SCHEMES.iter().any(|s| u.scheme_is(s))
    {
        return Err(PluginError::NotApplicable);
    }
    if parsed.host().is_empty() || parsed.path().trim_matches('/').is_empty() {
        return Err(PluginError::InvalidReference(format!(
            "\"{}\" names no repository; expected https://host/path[.git], ssh://user@host/path \
             or user@host:path",
            plugin_common::without_userinfo(locator)
        )));
    }
    let canonical = canonical_from_url(locator).ok_or(PluginError::NotApplicable)?;
    Ok((locator.trim().to_string(), canonical))
}

impl Resolver for Git {
    fn describe() -> ResolverInfo {
        ResolverInfo {
            name: "git".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Any other git remote (https, http, ssh, git, user@host:path)".into(),
            handles: [
                "https://host/path[.git]",
                "ssh://[user@]host/path",
                "git://host/path",
                "user@host:path",
            ]
            .map(String::from)
            .into(),
            requested_hosts: Vec::new(),
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let (url, canonical) = locate(&reference.locator)?;
        resolve_git(&reference, url, canonical)
    }

    fn list_versions(_: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        Err(PluginError::NotApplicable)
    }
}

stackpack_plugin_sdk::export_resolver!(Git);
