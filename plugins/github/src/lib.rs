//! `github`: resolves GitHub (and GitHub Enterprise) repositories.
//!
//! Claims `owner/repo` shorthand (st2's rule: it means `https://github.com/owner/repo`),
//! `http(s)://[user[:token]@]HOST/owner/repo[.git]`, `ssh://git@HOST/owner/repo`,
//! `git@HOST:owner/repo[.git]` and st2's `git@HOST/owner/repo`, where HOST is
//! github.com or one of the names in the `hosts` config (comma-separated GitHub
//! Enterprise hosts). Everything else is `not-applicable`.
//!
//! The resolution URL keeps what the user wrote: ssh stays ssh and userinfo stays (the
//! host needs it to fetch); st2's colon-less ssh form becomes `git@HOST:owner/repo`,
//! and `http://github.com` becomes https (github.com serves nothing else). The
//! canonical identity is `host/owner/repo`, never with credentials.

use plugin_common::forge::ForgeRules;
use stackpack_plugin_sdk::resolver::{
    PackRef, PluginError, Resolved, Resolver, ResolverInfo, VersionInfo, configured_hosts,
    list_tag_versions, locate_forge, resolve_git,
};

const PUBLIC_HOST: &str = "github.com";
const EXPECTED: &str = "OWNER/REPO, https://github.com/OWNER/REPO[.git] or \
                        git@github.com:OWNER/REPO[.git] (exactly two path segments)";

struct Github;

/// The URL to fetch and the canonical identity, or why the locator is not ours.
fn locate(locator: &str) -> Result<(String, String), PluginError> {
    let extra = configured_hosts();
    let is_host = |h: &str| h == PUBLIC_HOST || extra.iter().any(|c| c.host == h);
    let rules = ForgeRules {
        name: "GitHub",
        is_host: &is_host,
        shorthand_host: Some(PUBLIC_HOST),
        https_only_host: Some(PUBLIC_HOST),
        min_segments: 2,
        max_segments: Some(2),
        reject_dash_segment: false,
        expected: EXPECTED,
    };
    locate_forge(locator, &rules)
}

impl Resolver for Github {
    fn describe() -> ResolverInfo {
        let extra = configured_hosts();
        let mut handles: Vec<String> = [
            "owner/repo",
            "https://github.com/owner/repo[.git]",
            "ssh://git@github.com/owner/repo",
            "git@github.com:owner/repo[.git]",
            "git@github.com/owner/repo",
        ]
        .map(String::from)
        .into();
        handles.extend(extra.iter().map(|c| format!("{}/owner/repo", c.origin)));
        let mut requested_hosts = vec![format!("https://{PUBLIC_HOST}")];
        requested_hosts.extend(extra.into_iter().map(|c| c.origin));
        ResolverInfo {
            name: "github".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitHub and GitHub Enterprise repositories (owner/repo, https and ssh)"
                .into(),
            handles,
            requested_hosts,
        }
    }

    fn resolve(reference: PackRef) -> Result<Resolved, PluginError> {
        let (url, canonical) = locate(&reference.locator)?;
        resolve_git(&reference, url, canonical)
    }

    fn list_versions(reference: PackRef) -> Result<Vec<VersionInfo>, PluginError> {
        list_tag_versions(&locate(&reference.locator)?.0)
    }
}

stackpack_plugin_sdk::export_resolver!(Github);
