//! `gitlab`: resolves GitLab repositories, subgroups included.
//!
//! Claims `http(s)://[user[:token]@]HOST/group[/sub...]/project[.git]`,
//! `ssh://git@HOST[:port]/group/.../project`, `git@HOST:group/.../project[.git]` and
//! st2's `git@HOST/group/.../project`, where HOST is gitlab.com, any host whose name
//! starts with `gitlab.`, or one of the names in the `hosts` config (comma-separated).
//! At least two path segments; a `/-/` segment (a web page such as `/-/tree/main`) is
//! refused. Everything else is `not-applicable`; there is no shorthand (`owner/repo`
//! belongs to the github resolver, as in st2).
//!
//! The resolution URL keeps what the user wrote (ssh stays ssh, userinfo stays); st2's
//! colon-less ssh form becomes `git@HOST:group/.../project`, and `http://gitlab.com`
//! becomes https. The canonical identity is `host/group/.../project`.

use plugin_common::forge::ForgeRules;
use stackpack_plugin_sdk::resolver::{
    PackRef, PluginError, Resolved, Resolver, ResolverInfo, VersionInfo, configured_hosts,
    list_tag_versions, locate_forge, resolve_git,
};

const PUBLIC_HOST: &str = "gitlab.com";
const EXPECTED: &str = "https://gitlab.com/GROUP[/SUBGROUP...]/PROJECT[.git] or \
                        git@gitlab.com:GROUP[/SUBGROUP...]/PROJECT[.git] (at least two path segments)";

struct Gitlab;

/// The URL to fetch and the canonical identity, or why the locator is not ours.
fn locate(locator: &str) -> Result<(String, String), PluginError> {
    let extra = configured_hosts();
    let is_host =
        |h: &str| h == PUBLIC_HOST || h.starts_with("gitlab.") || extra.iter().any(|c| c.host == h);
    let rules = ForgeRules {
        name: "GitLab",
        is_host: &is_host,
        shorthand_host: None,
        https_only_host: Some(PUBLIC_HOST),
        min_segments: 2,
        max_segments: None,
        reject_dash_segment: true,
        expected: EXPECTED,
    };
    locate_forge(locator, &rules)
}

impl Resolver for Gitlab {
    fn describe() -> ResolverInfo {
        let extra = configured_hosts();
        let mut handles: Vec<String> = [
            "https://gitlab.com/group/[sub/...]project[.git]",
            "ssh://git@gitlab.com/group/[sub/...]project",
            "git@gitlab.com:group/[sub/...]project[.git]",
            "git@gitlab.com/group/[sub/...]project",
            "https://gitlab.*/group/[sub/...]project",
            "git@gitlab.*:group/[sub/...]project",
        ]
        .map(String::from)
        .into();
        handles.extend(
            extra
                .iter()
                .map(|c| format!("{}/group/[sub/...]project", c.origin)),
        );
        let mut requested_hosts = vec![format!("https://{PUBLIC_HOST}")];
        requested_hosts.extend(extra.into_iter().map(|c| c.origin));
        ResolverInfo {
            name: "gitlab".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitLab repositories, subgroups and self-hosted instances (https and ssh)"
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

stackpack_plugin_sdk::export_resolver!(Gitlab);
